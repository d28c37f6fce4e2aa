"""CLI benchmark: `cloudkeep publish` of a 1 GiB package to the local stack,
beside boto3's `upload_file` and `aws s3 cp` putting the same file into the
same emulator bucket, in the same run (cli_bench.sh starts the stack).

    cli_bench.py BASE_URL ADMIN_PASSWORD ENV_JSON [--size-mib N] [--rounds N]
    cli_bench.py boto3 FILE BUCKET KEY        (one peer upload, run as its own process)

Each upload runs as a process of its own, waited for with wait4(2), which
gives its CPU seconds (user + system) and peak RSS alone. Wall time is from
the spawn to the exit. Every tool uses 8 parts in flight and 16 MiB parts:
the CLI's defaults (the server's part size up to 160 GiB), boto3's
TransferConfig(max_concurrency=8, multipart_chunksize=16 MiB) and the AWS
CLI's `s3.max_concurrent_requests = 8`, `multipart_chunksize = 16MB`.

The CLI's figure holds more work than the peers': one SHA-256 pass over the
file before the upload (the digest the server holds the object to), its API
calls (login is not timed; create, sign and complete are), and it is
`publish --no-wait` (validation then runs on the server and is waited for,
untimed, before the next upload, so that it never competes with a peer).
The emulator's CPU seconds are reported beside each: it is the floor here.
"""

import argparse
import json
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MIB = 1 << 20
PART = 16 * MIB
JOBS = 8


def cpu_seconds(pid):
    """User + system CPU a process has used so far (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(argv, env=None, stdin=None):
    """Runs argv; (wall s, cpu s, peak RSS MiB, stdout, emulator cpu s, server cpu s)."""
    moto, server = int(os.environ["MOTO_PID"]), int(os.environ["SERVER_PID"])
    moto0, server0 = cpu_seconds(moto), cpu_seconds(server)
    started = time.monotonic()
    out, errors = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    proc = subprocess.Popen(argv, env=env, stdin=subprocess.PIPE, stdout=out, stderr=errors)
    if stdin:
        proc.stdin.write(stdin)
    proc.stdin.close()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    errors.seek(0)
    err = errors.read().decode()
    out.seek(0)
    stdout = out.read().decode()
    if proc.returncode != 0:
        sys.exit(f"{argv[0]} exited {proc.returncode}: {err}{stdout}")
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss": usage.ru_maxrss / 1024,
        "stdout": stdout,
        "moto": cpu_seconds(moto) - moto0,
        "server": cpu_seconds(server) - server0,
    }


def package(path, size):
    """A stored ZIP of `size` bytes: package.json first (its version patched in
    place per round, CRCs too), a README, and incompressible filler."""
    import zipfile

    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as z:
        z.writestr("package.json", manifest(1))
        z.writestr("README.md", "# cli-bench\n")
        with z.open("data.bin", "w", force_zip64=True) as f:
            left = size - 1024
            block = os.urandom(8 * MIB)
            n = 0
            while left > 0:
                # Fresh bytes per block, cheaply: no two blocks alike.
                chunk = block[: min(left, len(block))]
                chunk = struct.pack("<Q", n) + chunk[8:]
                f.write(chunk)
                left -= len(chunk)
                n += 1


def manifest(round_):
    return json.dumps({"name": "cli-bench", "version": f"1.0.{round_}", "description": "1 GiB"}).encode()


def set_version(path, round_):
    """Rewrites package.json (the first entry, same length) and its two CRCs."""
    data = manifest(round_)
    crc = zlib.crc32(data)
    with open(path, "r+b") as f:
        head = f.read(30)
        name_len, extra_len = struct.unpack("<HH", head[26:30])
        f.seek(14)
        f.write(struct.pack("<I", crc))
        f.seek(30 + name_len + extra_len)
        f.write(data)
        # The central directory's first entry: found from the end record.
        f.seek(0, 2)
        end = f.tell()
        f.seek(max(0, end - 65557))
        tail = f.read()
        at = tail.rfind(b"PK\x05\x06")
        offset = struct.unpack("<I", tail[at + 16 : at + 20])[0]
        if offset == 0xFFFFFFFF:
            loc = tail.rfind(b"PK\x06\x07")
            zip64 = struct.unpack("<Q", tail[loc + 8 : loc + 16])[0]
            f.seek(zip64 + 48)
            offset = struct.unpack("<Q", f.read(8))[0]
        f.seek(offset + 16)
        f.write(struct.pack("<I", crc))


def boto3_peer(file, bucket, key):
    import boto3
    from boto3.s3.transfer import TransferConfig

    s3 = boto3.client("s3")
    config = TransferConfig(multipart_threshold=PART, multipart_chunksize=PART, max_concurrency=JOBS, use_threads=True)
    s3.upload_file(file, bucket, key, Config=config)


def wait_validated(base, token, version):
    started = time.monotonic()
    while time.monotonic() - started < 900:
        req = urllib.request.Request(
            f"{base}/v1/packages/cli-bench/versions/{version}", headers={"authorization": f"Bearer {token}"}
        )
        status = json.load(urllib.request.urlopen(req))["status"]
        if status != "validating":
            return status, time.monotonic() - started
        time.sleep(1)
    sys.exit(f"cli-bench@{version} still validating after 900 s")


def wait_quiet(base, token):
    """The dev server queues a scan of the demo account as it starts: let it
    end first, or its emulator CPU lands in the first upload's figures."""
    started = time.monotonic()
    while time.monotonic() - started < 300:
        req = urllib.request.Request(f"{base}/v1/scans?limit=20", headers={"authorization": f"Bearer {token}"})
        if all(scan.get("finished_at") for scan in json.load(urllib.request.urlopen(req))["items"]):
            return
        time.sleep(0.5)
    sys.exit("the dev server's first scan did not end within 300 s")


def login(base, password):
    req = urllib.request.Request(
        f"{base}/v1/auth/login",
        data=json.dumps({"username": "admin", "password": password}).encode(),
        headers={"content-type": "application/json"},
    )
    return json.load(urllib.request.urlopen(req))["access_token"]


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "boto3":
        boto3_peer(*sys.argv[2:5])
        return
    p = argparse.ArgumentParser()
    p.add_argument("base")
    p.add_argument("password")
    p.add_argument("env_json")
    p.add_argument("--size-mib", type=int, default=1024)
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()
    size = a.size_mib * MIB
    bucket = json.loads(Path(a.env_json).read_text())["packages"]["PACKAGE_BUCKET"]
    bench = REPO / "target" / "bench"
    file = bench / "cli-bench.zip"
    if not file.exists() or file.stat().st_size < size or file.stat().st_size > size + MIB:
        print(f"writing a {a.size_mib} MiB package to {file}", file=sys.stderr)
        package(file, size)
    size = file.stat().st_size
    cloudkeep = str(REPO / "target" / "release" / "cloudkeep")
    config = tempfile.mkdtemp(prefix="cloudkeep-cli-bench-")
    env = dict(os.environ, CLOUDKEEP_CONFIG_DIR=config, CLOUDKEEP_ENDPOINT=a.base, NO_COLOR="1")
    subprocess.run(
        [cloudkeep, "login", "--username", "admin", "--password-stdin"],
        env=env, input=a.password.encode(), check=True, capture_output=True,
    )
    awscfg = Path(config) / "aws-config"
    awscfg.write_text(
        "[default]\nregion = us-east-1\ns3 =\n  max_concurrent_requests = 8\n"
        "  multipart_chunksize = 16MB\n  multipart_threshold = 16MB\n"
    )
    aws_env = dict(os.environ, AWS_CONFIG_FILE=str(awscfg))
    results = {"cloudkeep publish": [], "boto3 upload_file": [], "aws s3 cp": []}
    token = login(a.base, a.password)
    wait_quiet(a.base, token)
    for r in range(1, a.rounds + 1):
        set_version(file, r)
        run = measured([cloudkeep, "publish", str(file), "--no-wait", "--json"], env=env)
        result = json.loads(run["stdout"])
        assert result["parts_uploaded"] == result["part_count"], result
        status, validated = wait_validated(a.base, token, f"1.0.{r}")
        run["note"] = f"{result['part_count']} parts; then {status} in {validated:.0f} s"
        results["cloudkeep publish"].append(run)
        results["boto3 upload_file"].append(
            measured([sys.executable, __file__, "boto3", str(file), bucket, f"bench/boto3-{r}.zip"])
        )
        results["aws s3 cp"].append(
            measured(
                [os.environ["AWS_CLI"], "s3", "cp", "--only-show-errors", str(file), f"s3://{bucket}/bench/awscli-{r}.zip"],
                env=aws_env,
            )
        )
        for tool, runs in results.items():
            x = runs[-1]
            print(
                f"round {r} {tool}: {x['wall']:.2f} s, {size / MIB / x['wall']:.0f} MiB/s, cpu {x['cpu']:.2f} s, "
                f"rss {x['rss']:.0f} MiB, emulator cpu {x['moto']:.2f} s",
                file=sys.stderr,
            )
    med = {tool: {k: statistics.median(x[k] for x in runs) for k in ("wall", "cpu", "rss", "moto", "server")} for tool, runs in results.items()}
    print(f"\n{a.size_mib} MiB, {a.rounds} rounds (medians), 8 parts in flight, 16 MiB parts\n")
    print("| tool | wall | throughput | CPU | peak RSS | emulator CPU | dev server CPU |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for tool, m in med.items():
        print(
            f"| {tool} | {m['wall']:.2f} s | {size / MIB / m['wall']:.0f} MiB/s | {m['cpu']:.2f} s | "
            f"{m['rss']:.0f} MiB | {m['moto']:.2f} s | {m['server']:.2f} s |"
        )
    ck, b3, aw = med["cloudkeep publish"], med["boto3 upload_file"], med["aws s3 cp"]
    fastest = min(b3["wall"], aw["wall"])
    print()
    print(f"- throughput ÷ the faster peer's: {fastest / ck['wall']:.2f} (target ≥ 1)")
    print(f"- CPU ÷ boto3's: {ck['cpu'] / b3['cpu']:.2f} (target ≤ 0.5)")
    print(f"- peak RSS: {ck['rss']:.0f} MiB (target ≤ {JOBS} × 16 + 32 = {JOBS * 16 + 32} MiB)")
    for run in results["cloudkeep publish"]:
        print(f"- cloudkeep round: {run['note']}")


if __name__ == "__main__":
    main()
