#!/usr/bin/env bash
# The validator benchmark (issue 5): a ~3.2 GB package (PACKAGE_GB to change)
# validated by the release binary, beside Python's zipfile. Needs ~4x the
# package size in free memory (the emulator keeps objects in memory) and disk.
set -euo pipefail
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
cd "$repo_root"
source infra/scripts/moto.sh
source infra/bench/stack.sh

bench_stack validator validator
.venv/bin/python infra/bench/validator_bench.py target/bench/validator-env.json target/release target/bench
