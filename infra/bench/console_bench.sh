#!/usr/bin/env bash
# `make bench-console`: the console's first load in headless Chromium on the
# local stack (the release dev server) holding scan_bench.py's 17-region
# estate. Prints a Markdown table for BENCHMARKS.md.
set -euo pipefail
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
cd "$repo_root"
source infra/scripts/moto.sh
source infra/bench/stack.sh

infra/scripts/venv.sh
infra/scripts/tools.sh
cargo build --locked --release -p devstack
mkdir -p target/bench
trap stop_moto EXIT
start_moto "$(free_port)" target/bench/moto-console.log
export CLOUDKEEP_STACK=consolebench
target/release/devstack env > target/bench/console-env.json
.venv/bin/python infra/bench/console_bench.py seed target/bench/console-env.json

password="bench-$(.venv/bin/python -c 'import secrets; print(secrets.token_hex(12))')"
bench_serve consolebench target/release/devstack "$password"
base=$bench_base
.venv/bin/python infra/bench/console_bench.py scan "$base" "$password"
.venv/bin/python infra/bench/console_bench.py run "$base" "$password" --rounds "${ROUNDS:-5}"
