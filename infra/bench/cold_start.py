"""Cold-start benchmark of every function binary, through the Lambda Runtime API.

For each function: the stripped release binary's size; init time, from process
spawn to its first `GET .../invocation/next` (median and p90 of N spawns); and
peak RSS (VmHWM) after one invocation of its sample event. A Python 3.11
handler that imports boto3 and creates DynamoDB, S3 and Secrets Manager
clients is measured the same way, in the same run.

Usage: cold_start.py ENV_JSON RELEASE_DIR [--runs N]   (see cold_start.sh)
"""

import argparse
import queue
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = {
    "auth": "auth-health.json",
    "packages": "packages-health.json",
    "inventory": "inventory-health.json",
    "actions": "actions-health.json",
    "validator": "validator-object-created.json",
    "scanner": "scanner-schedule.json",
}


class RuntimeApi(ThreadingHTTPServer):
    """Hands out queued events on `next` (blocking while there are none, as a
    frozen Lambda waits) and records when each response or error arrives."""

    daemon_threads = True

    def arm(self):
        self.queue = queue.Queue()
        self.first_next = None
        self.served = {}
        self.answers = {}
        self.answered = threading.Condition()

    def push(self, request_id: str, event: bytes):
        self.queue.put((request_id, event))

    def wait(self, request_id: str, timeout: float):
        with self.answered:
            if not self.answered.wait_for(lambda: request_id in self.answers, timeout):
                return None
            return self.answers[request_id]


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        api = self.server
        if not self.path.endswith("/invocation/next"):
            self.send_error(404)
            return
        if api.first_next is None:
            api.first_next = time.perf_counter()
        request_id, event = api.queue.get()
        api.served[request_id] = time.perf_counter()
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", request_id)
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30000))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:bench")
        self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
        self.send_header("Content-Length", str(len(event)))
        self.end_headers()
        self.wfile.write(event)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length)
        self.send_response(202)
        self.end_headers()
        api = self.server
        parts = self.path.split("/")
        request_id, kind = parts[-2], parts[-1]
        with api.answered:
            api.answers[request_id] = (kind, body, time.perf_counter())
            api.answered.notify_all()


def peak_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def invoke(api, proc, request_id, event, expect_status=200):
    api.push(request_id, event)
    answer = api.wait(request_id, 30)
    if answer is None:
        raise RuntimeError(f"no response; stderr: {proc.stderr.read(2000) if proc.poll() is not None else b''!r}")
    kind, body, at = answer
    if kind != "response":
        raise RuntimeError(f"posted {kind}: {body[:500]!r}")
    status = json.loads(body).get("statusCode") if body.startswith(b"{") else None
    if status is not None and status != expect_status:
        raise RuntimeError(f"status {status}, expected {expect_status}: {body[:500]!r}")
    return (at - api.served[request_id]) * 1000


def run_once(api, command, env, event):
    api.arm()
    started = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        invoke(api, proc, "cold-1", event)
        time.sleep(0.05)  # let it reach its next `next` call
        rss = peak_rss_kib(proc.pid)
        return (api.first_next - started) * 1000, rss
    finally:
        proc.kill()
        proc.wait()


def warm_latencies(api, command, env, event, runs):
    """Milliseconds from handing out each event to its response, one warm process."""
    api.arm()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        invoke(api, proc, "warmup", event)
        return sorted(invoke(api, proc, f"warm-{i}", event) for i in range(runs))
    finally:
        proc.kill()
        proc.wait()


def lambda_env(base, function_env, api_addr, name):
    env = dict(base)
    env.update(function_env)
    env.update(
        {
            "AWS_LAMBDA_RUNTIME_API": api_addr,
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
            "AWS_LAMBDA_LOG_FORMAT": "JSON",
            "AWS_LAMBDA_LOG_LEVEL": "WARN",
        }
    )
    return env


def measure(api, api_addr, name, command, env, event, runs):
    inits, rss = [], []
    for _ in range(runs):
        init_ms, peak = run_once(api, command, env, event)
        inits.append(init_ms)
        rss.append(peak)
    inits.sort()
    return {
        "init_median_ms": round(statistics.median(inits), 2),
        "init_p90_ms": round(inits[int(0.9 * (len(inits) - 1))], 2),
        "peak_rss_mib": round(max(rss) / 1024, 1),
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("env_json")
    parser.add_argument("release_dir")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--admin-password", required=True)
    args = parser.parse_args()
    envs = json.loads(Path(args.env_json).read_text())
    api = RuntimeApi(("127.0.0.1", 0), Handler)
    threading.Thread(target=api.serve_forever, daemon=True).start()
    api_addr = f"127.0.0.1:{api.server_address[1]}"
    base = {k: v for k, v in os.environ.items()}

    rows = []
    for name, sample in FUNCTIONS.items():
        binary = Path(args.release_dir) / name
        event = (ROOT / "events" / sample).read_bytes()
        env = lambda_env(base, envs[name], api_addr, name)
        row = {"function": name, "binary_mib": round(binary.stat().st_size / 2**20, 2)}
        row.update(measure(api, api_addr, name, [str(binary)], env, event, args.runs))
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)

    python_env = lambda_env(base, envs["packages"], api_addr, "python-boto3")
    event = (ROOT / "events" / "packages-health.json").read_bytes()
    row = {"function": "python 3.11 + boto3 (3 clients)", "binary_mib": None}
    row.update(measure(api, api_addr, "python", [sys.executable, str(Path(__file__).with_name("python_handler.py"))], python_env, event, args.runs))
    rows.append(row)
    print(json.dumps(row), file=sys.stderr)

    login = json.loads((ROOT / "events" / "auth-login-bad-json.json").read_text())
    login["body"] = json.dumps({"username": "admin", "password": args.admin_password})
    login["headers"]["content-length"] = str(len(login["body"]))
    env = lambda_env(base, envs["auth"], api_addr, "auth")
    latencies = warm_latencies(api, [str(Path(args.release_dir) / "auth")], env, json.dumps(login).encode(), args.runs)
    print(json.dumps({"login_ms": latencies}), file=sys.stderr)

    print("| function | binary (MiB) | init median (ms) | init p90 (ms) | peak RSS (MiB) |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        size = "—" if r["binary_mib"] is None else f"{r['binary_mib']:.2f}"
        print(f"| {r['function']} | {size} | {r['init_median_ms']:.2f} | {r['init_p90_ms']:.2f} | {r['peak_rss_mib']:.1f} |")
    print()
    print(
        f"auth login, warm, release, {len(latencies)} logins: median {statistics.median(latencies):.1f} ms, "
        f"p90 {latencies[int(0.9 * (len(latencies) - 1))]:.1f} ms, min {latencies[0]:.1f} ms"
    )


if __name__ == "__main__":
    main()
