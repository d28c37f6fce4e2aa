#!/usr/bin/env bash
# `make dev`: the whole backend on this machine, no AWS account, no Docker.
# Starts the emulator on 127.0.0.1:$MOTO_PORT (default 5000), bootstraps it
# from template.yaml, seeds a demo estate, and serves every route on
# 127.0.0.1:$PORT (default 3000). Ctrl-C (or SIGTERM) stops everything.
set -euo pipefail
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
cd "$repo_root"
source infra/scripts/moto.sh

export PORT=${PORT:-3000}
MOTO_PORT=${MOTO_PORT:-5000}
export CLOUDKEEP_STACK=${CLOUDKEEP_STACK:-cloudkeep-local}

infra/scripts/venv.sh
echo "building the dev server (the first build takes several minutes)..."
# The same build as `make test` (same feature resolution), so switching between
# the two never rebuilds the SDKs.
cargo build --locked --workspace --all-targets

mkdir -p .local
server_pid=
cleanup() {
    trap - EXIT INT TERM
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    stop_moto
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start_moto "$MOTO_PORT" .local/moto.log
echo "emulator on $AWS_ENDPOINT_URL (log: .local/moto.log)"

target/debug/devstack serve &
server_pid=$!
wait "$server_pid"
