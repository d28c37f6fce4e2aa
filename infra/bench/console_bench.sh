#!/usr/bin/env bash
# `make bench-console`: the console's first load in headless Chromium on the
# local stack (the release dev server) holding scan_bench.py's 17-region
# estate. Prints a Markdown table for BENCHMARKS.md.
set -euo pipefail
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
cd "$repo_root"
source infra/scripts/moto.sh

infra/scripts/venv.sh
infra/scripts/tools.sh
cargo build --locked --release -p devstack
mkdir -p target/bench
server=
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; fi
    stop_moto
}
trap cleanup EXIT
start_moto "$(free_port)" target/bench/moto-console.log
export CLOUDKEEP_STACK=consolebench
target/release/devstack env > target/bench/console-env.json
.venv/bin/python infra/bench/console_bench.py seed target/bench/console-env.json

port=$(free_port)
password="bench-$(.venv/bin/python -c 'import secrets; print(secrets.token_hex(12))')"
PORT=$port CLOUDKEEP_ADMIN_PASSWORD=$password RUST_LOG=warn \
    target/release/devstack serve > target/bench/console-server.log 2>&1 &
server=$!
for _ in $(seq 1 300); do
    grep -q "cloudkeep ready" target/bench/console-server.log && break
    kill -0 "$server" 2>/dev/null || { tail -20 target/bench/console-server.log >&2; exit 1; }
    sleep 0.1
done
base="http://127.0.0.1:$port"
.venv/bin/python infra/bench/console_bench.py scan "$base" "$password"
.venv/bin/python infra/bench/console_bench.py run "$base" "$password" --rounds "${ROUNDS:-5}"
