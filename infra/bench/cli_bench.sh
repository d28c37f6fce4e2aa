#!/usr/bin/env bash
# `make bench-cli`: `cloudkeep publish` of a 1 GiB package to the local stack
# (the dev server on the emulator), beside boto3's upload_file and
# `aws s3 cp` putting the same file into the same emulator bucket, in the same
# run. Prints a Markdown table for BENCHMARKS.md.
set -euo pipefail
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
cd "$repo_root"
source infra/scripts/moto.sh

infra/scripts/venv.sh
# The CLI is what is measured: its release build. The dev server is the
# debug build of `make dev` (its CPU is reported, and is a rounding error).
cargo build --locked --release -p cloudkeep
cargo build --locked --workspace --all-targets
mkdir -p target/bench
# The AWS CLI pins its own botocore: it gets a venv of its own, for the benchmark only.
awscli=target/bench/awscli-venv
if [ ! -x "$awscli/bin/aws" ]; then
    python3 -m venv "$awscli"
    "$awscli/bin/pip" install --quiet --disable-pip-version-check awscli
fi
server=
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; fi
    stop_moto
}
trap cleanup EXIT
start_moto "$(free_port)" target/bench/moto-cli.log
export CLOUDKEEP_STACK=clibench

port=$(free_port)
password="bench-$(.venv/bin/python -c 'import secrets; print(secrets.token_hex(12))')"
PORT=$port CLOUDKEEP_ADMIN_PASSWORD=$password RUST_LOG=warn \
    target/debug/devstack serve > target/bench/cli-server.log 2>&1 &
server=$!
for _ in $(seq 1 300); do
    grep -q "cloudkeep ready" target/bench/cli-server.log && break
    kill -0 "$server" 2>/dev/null || { tail -20 target/bench/cli-server.log >&2; exit 1; }
    sleep 0.1
done
target/debug/devstack env > target/bench/cli-env.json
MOTO_PID=$moto_pid SERVER_PID=$server AWS_CLI="$awscli/bin/aws" \
    .venv/bin/python infra/bench/cli_bench.py "http://127.0.0.1:$port" "$password" target/bench/cli-env.json \
    --size-mib "${SIZE_MIB:-1024}" --rounds "${ROUNDS:-3}"
