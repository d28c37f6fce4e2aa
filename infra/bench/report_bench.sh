#!/usr/bin/env bash
# `make bench-report`: builds the release inventory (the profile Lambda runs)
# and the dev tools, starts an emulator (moto with report_bench.py's
# remembered sorts, see there) that stops when the script exits, bootstraps a
# stack, creates the admin, and runs report_bench.py: 100,000 findings written
# into the inventory table, then POST /v1/reports as CSV, PDF and OCSF.
# Prints a Markdown table for BENCHMARKS.md.
#
# Env: FINDINGS (default 100000), FORMATS (default csv,pdf,ocsf).
set -euo pipefail
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
cd "$repo_root"
source infra/scripts/moto.sh

infra/scripts/venv.sh
cargo build --locked --release -p inventory
cargo build --locked --workspace --all-targets
mkdir -p target/bench

port=$(free_port)
MOTO_EC2_LOAD_DEFAULT_AMIS=false .venv/bin/python infra/bench/report_bench.py moto "$port" \
    >target/bench/moto-report.log 2>&1 &
moto_pid=$!
trap stop_moto EXIT
for _ in $(seq 1 100); do
    if .venv/bin/python -c 'import sys, urllib.request; urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/moto-api/", timeout=1)' "$port" 2>/dev/null; then
        break
    fi
    kill -0 "$moto_pid" 2>/dev/null || { tail -20 target/bench/moto-report.log >&2; exit 1; }
    sleep 0.1
done
export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true

CLOUDKEEP_STACK=report target/debug/devstack env > target/bench/report-env.json
password=bench-admin-password
USERS_TABLE=$(.venv/bin/python -c 'import json; print(json.load(open("target/bench/report-env.json"))["auth"]["USERS_TABLE"])') \
    CLOUDKEEP_ADMIN_PASSWORD=$password target/debug/cloudkeep-admin >/dev/null
.venv/bin/python infra/bench/report_bench.py run target/bench/report-env.json target/release target/debug \
    --admin-password "$password" --findings "${FINDINGS:-100000}" --formats "${FORMATS:-csv,pdf,ocsf}" \
    --moto-pid "$moto_pid"
