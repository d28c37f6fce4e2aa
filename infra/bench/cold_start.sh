#!/usr/bin/env bash
# `make bench`: builds the release binaries (the profile Lambda runs), starts an
# emulator, bootstraps a stack for the functions' environments, and runs
# cold_start.py. Prints a Markdown table for BENCHMARKS.md.
set -euo pipefail
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
cd "$repo_root"
source infra/scripts/moto.sh

infra/scripts/venv.sh
cargo build --locked --release -p auth -p packages -p inventory -p actions -p validator -p scanner
cargo build --locked --workspace --all-targets

mkdir -p target/bench
trap stop_moto EXIT
start_moto "$(free_port)" target/bench/moto.log
CLOUDKEEP_STACK=bench target/debug/devstack env > target/bench/env.json
password=bench-admin-password
USERS_TABLE=$(.venv/bin/python -c 'import json; print(json.load(open("target/bench/env.json"))["auth"]["USERS_TABLE"])') \
    CLOUDKEEP_ADMIN_PASSWORD=$password target/debug/cloudkeep-admin >/dev/null
.venv/bin/python infra/bench/cold_start.py target/bench/env.json target/release --runs "${RUNS:-20}" --admin-password "$password"
