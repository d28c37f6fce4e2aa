#!/usr/bin/env bash
# `make test`: every test, from a fresh clone. Installs the Python tooling,
# checks the template (cfn-lint + SAM transform), builds everything, starts its
# own emulator on a free port, runs unit, integration and runtime-harness
# tests against it, and stops it. Exits non-zero on any failure.
set -euo pipefail
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
cd "$repo_root"
source infra/scripts/moto.sh

step() { printf '\n== %s\n' "$*"; }

step "python tooling (.venv)"
infra/scripts/venv.sh

step "system tools the report tests read with (chromium, pdftotext)"
infra/scripts/tools.sh

step "template: cfn-lint and SAM transform"
.venv/bin/python infra/scripts/check_template.py
# The roles customers deploy in each account: to be scanned, and to be acted in.
.venv/bin/cfn-lint --include-checks I -- infra/cloudformation/customer-readonly-role.yaml infra/cloudformation/customer-remediation-role.yaml

step "format"
cargo fmt --all -- --check

step "build (every crate, test and binary)"
cargo build --workspace --all-targets --locked

step "emulator"
mkdir -p target
trap stop_moto EXIT
start_moto "$(free_port)" target/moto-test.log
echo "moto on $AWS_ENDPOINT_URL"

step "tests"
# Integration tests share one emulator; each creates its own stack (unique
# names), so they run in parallel, bounded: moto is GIL-bound.
cargo test --workspace --locked --lib --bins --tests -- --test-threads="${TEST_THREADS:-4}" 2>&1 |
    tee target/test-output.log
# One closing line for the whole run (cargo prints one per test binary).
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "cargo test: %d passed, %d failed\n", passed, failed }' \
    target/test-output.log
