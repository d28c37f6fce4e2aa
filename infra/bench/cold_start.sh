#!/usr/bin/env bash
# `make bench`: builds the release binaries (the profile Lambda runs), starts an
# emulator, bootstraps a stack for the functions' environments, and runs
# cold_start.py. Prints a Markdown table for BENCHMARKS.md.
set -euo pipefail
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
cd "$repo_root"
source infra/scripts/moto.sh
source infra/bench/stack.sh

bench_stack cold auth packages inventory actions validator scanner
password=bench-admin-password
USERS_TABLE=$(.venv/bin/python -c 'import json; print(json.load(open("target/bench/cold-env.json"))["auth"]["USERS_TABLE"])') \
    CLOUDKEEP_ADMIN_PASSWORD=$password target/debug/cloudkeep-admin >/dev/null
.venv/bin/python infra/bench/cold_start.py target/bench/cold-env.json target/release --runs "${RUNS:-20}" --admin-password "$password"
