#!/usr/bin/env bash
# `make bench-scan`: builds the release scanner (the profile Lambda runs),
# starts an emulator, bootstraps a stack for the scanner's environment, and
# runs scan_bench.py. Prints a Markdown table for BENCHMARKS.md.
set -euo pipefail
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
cd "$repo_root"
source infra/scripts/moto.sh
source infra/bench/stack.sh

bench_stack scan scanner
.venv/bin/python infra/bench/scan_bench.py run target/bench/scan-env.json target/release/scanner \
    --rounds "${ROUNDS:-3}" --proxy-port "$(free_port)" --moto-pid "$moto_pid"
