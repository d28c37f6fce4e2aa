"""Validator benchmark: a ~3.2 GB package in the emulator, validated by the
release binary through the Lambda Runtime API, beside Python's zipfile doing
the same check over the downloaded object.

Reports for the Rust validator: wall time (event handed out -> response), peak
RSS (VmHWM), bytes fetched by the structural pass (end records, central
directory, manifest) and in all. For Python: download time, zipfile.testzip()
+ SHA-256 time, peak RSS.

Usage: validator_bench.py ENV_JSON RELEASE_DIR WORKDIR   (see validator_bench.sh)
"""

import hashlib
import json
import os
import resource
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import boto3
import boto3.s3.transfer

sys.path.insert(0, str(Path(__file__).parent))
from cold_start import Handler, RuntimeApi, lambda_env, peak_rss_kib  # noqa: E402

MIB = 1024 * 1024
NAME, VERSION = "bigpkg", "1.0.0"


def make_package(path: Path, target_bytes: int) -> None:
    """Many entries: incompressible 16 MiB blocks and runs of zeros (stored),
    and a few thousand small deflated files."""
    random_block = os.urandom(16 * MIB)
    with zipfile.ZipFile(path, "w", allowZip64=True) as z:
        z.writestr(f"{NAME}/package.json", json.dumps({"name": NAME, "version": VERSION}))
        z.writestr(f"{NAME}/README.md", "# big package\n")
        for i in range(3000):
            z.writestr(f"{NAME}/small/{i:05}.txt", f"file {i}\n" * 20, compress_type=zipfile.ZIP_DEFLATED)
        for i in range(20):
            # Stored: deflated, runs of zeros exceed the 100:1 ratio (a bomb, rightly rejected).
            z.writestr(f"{NAME}/zeros/{i:03}.bin", bytes(16 * MIB), compress_type=zipfile.ZIP_STORED)
        i = 0
        while path.stat().st_size < target_bytes:
            block = i.to_bytes(8, "little") + random_block[8:]
            z.writestr(f"{NAME}/blobs/{i:04}.bin", block, compress_type=zipfile.ZIP_STORED)
            i += 1


def upload(s3, bucket: str, key: str, path: Path) -> None:
    config = boto3.s3.transfer.TransferConfig(multipart_chunksize=64 * MIB, max_concurrency=4)
    s3.upload_file(str(path), bucket, key, Config=config)


def python_check(s3, bucket: str, key: str, workdir: Path) -> dict:
    """The seeds' way, in a child process so its RSS is its own."""
    code = f"""
import boto3, hashlib, json, resource, time, zipfile
s3 = boto3.client("s3")
t0 = time.perf_counter()
s3.download_file({bucket!r}, {key!r}, {str(workdir / "downloaded.zip")!r})
t1 = time.perf_counter()
with zipfile.ZipFile({str(workdir / "downloaded.zip")!r}) as z:
    bad = z.testzip()
h = hashlib.sha256()
with open({str(workdir / "downloaded.zip")!r}, "rb") as f:
    for block in iter(lambda: f.read(8 * 1024 * 1024), b""):
        h.update(block)
t2 = time.perf_counter()
print(json.dumps({{"download_s": t1 - t0, "check_s": t2 - t1, "bad": bad,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    (workdir / "downloaded.zip").unlink(missing_ok=True)
    return result


def main() -> None:
    env_json, release_dir, workdir = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    envs = json.loads(env_json.read_text())
    table, bucket = envs["validator"]["PACKAGES_TABLE"], envs["validator"]["PACKAGE_BUCKET"]
    key = f"packages/{NAME}/{VERSION}/{NAME}-{VERSION}.zip"
    target = int(float(os.environ.get("PACKAGE_GB", "3.2")) * 1e9)
    package = workdir / "big.zip"

    t = time.perf_counter()
    make_package(package, target)
    size = package.stat().st_size
    print(f"generated {size / 1e9:.2f} GB in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    s3 = boto3.client("s3")
    t = time.perf_counter()
    upload(s3, bucket, key, package)
    print(f"uploaded in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    with zipfile.ZipFile(package) as z:
        infos = z.infolist()
        cd_size = sum(46 + len(i.filename.encode()) + len(i.extra) + len(i.comment) for i in infos)
        entries = len(infos)
    package.unlink()

    dynamodb = boto3.client("dynamodb")
    dynamodb.put_item(
        TableName=table,
        Item={
            "pk": {"S": f"PKG#{NAME}"}, "sk": {"S": f"V#{VERSION}"}, "name": {"S": NAME}, "version": {"S": VERSION},
            "status": {"S": "validating"}, "size": {"N": str(size)}, "uploaded_by": {"S": "admin"},
            "upload_id": {"S": "bench"}, "created_at": {"S": "2026-11-26T00:00:00Z"},
        },
    )

    event = json.loads((Path(__file__).resolve().parents[2] / "events" / "validator-object-created.json").read_text())
    event["Records"][0]["s3"]["bucket"]["name"] = bucket
    event["Records"][0]["s3"]["object"]["key"] = key
    event["Records"][0]["s3"]["object"]["size"] = size
    event["Records"][0]["s3"]["object"].pop("versionId", None)

    api = RuntimeApi(("127.0.0.1", 0), Handler)
    threading.Thread(target=api.serve_forever, daemon=True).start()
    api.arm()
    env = lambda_env(dict(os.environ), envs["validator"], f"127.0.0.1:{api.server_address[1]}", "validator")
    env["AWS_LAMBDA_LOG_LEVEL"] = "INFO"
    log = workdir / "validator.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([str(release_dir / "validator")], env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            api.push("bench-1", json.dumps(event).encode())
            answer = api.wait("bench-1", 3600)
            if answer is None or answer[0] != "response":
                raise SystemExit(f"validator failed: {answer}")
            wall = answer[2] - api.served["bench-1"]
            time.sleep(0.1)
            rss = peak_rss_kib(proc.pid) / 1024
        finally:
            proc.kill()
            proc.wait()
    lines = [json.loads(l) for l in log.read_text().splitlines() if l.startswith("{")]
    structural = next((l["fetched"] for l in lines if l.get("message") == "structural pass done"), None)
    total = next((l["fetched"] for l in lines if l.get("message") == "validated"), None)
    outcome = next((l.get("outcome") for l in lines if l.get("message") == "validated"), None)
    status = dynamodb.get_item(TableName=table, Key={"pk": {"S": f"PKG#{NAME}"}, "sk": {"S": f"V#{VERSION}"}})["Item"]["status"]["S"]

    python = python_check(s3, bucket, key, workdir)
    result = {
        "object_bytes": size, "entries": entries, "central_directory_bytes": cd_size,
        "rust": {"wall_s": round(wall, 2), "peak_rss_mib": round(rss, 1), "structural_fetched": structural,
                 "total_fetched": total, "outcome": outcome, "status": status},
        "python_zipfile": python,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
