#!/usr/bin/env bash
# `make bench-scan`: builds the release scanner (the profile Lambda runs),
# starts an emulator, bootstraps a stack for the scanner's environment, and
# runs scan_bench.py. Prints a Markdown table for BENCHMARKS.md.
set -euo pipefail
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
cd "$repo_root"
source infra/scripts/moto.sh

infra/scripts/venv.sh
cargo build --locked --release -p scanner
cargo build --locked --workspace --all-targets

mkdir -p target/bench
trap stop_moto EXIT
start_moto "$(free_port)" target/bench/moto-scan.log
CLOUDKEEP_STACK=bench target/debug/devstack env > target/bench/scan-env.json
.venv/bin/python infra/bench/scan_bench.py run target/bench/scan-env.json target/release/scanner \
    --rounds "${ROUNDS:-3}" --proxy-port "$(free_port)" --moto-pid "$moto_pid"
