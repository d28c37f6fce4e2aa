#!/usr/bin/env bash
# `make bench-cli`: `cloudkeep publish` of a 1 GiB package to the local stack
# (the dev server on the emulator), beside boto3's upload_file and
# `aws s3 cp` putting the same file into the same emulator bucket, in the same
# run. The CLI is what is measured: its release build. The dev server is the
# debug build of `make dev` (its CPU is reported, and is a rounding error).
# Prints a Markdown table for BENCHMARKS.md.
#
# Env: SIZE_MIB (default 1024), ROUNDS (default 3).
set -euo pipefail
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
cd "$repo_root"
source infra/scripts/moto.sh
source infra/bench/stack.sh

bench_stack clibench cloudkeep
# The AWS CLI pins its own botocore: it gets a venv of its own, for the benchmark only.
awscli=target/bench/awscli-venv
if [ ! -x "$awscli/bin/aws" ]; then
    python3 -m venv "$awscli"
    "$awscli/bin/pip" install --quiet --disable-pip-version-check awscli
fi
password="bench-$(.venv/bin/python -c 'import secrets; print(secrets.token_hex(12))')"
bench_serve clibench target/debug/devstack "$password"
MOTO_PID=$moto_pid SERVER_PID=$bench_server AWS_CLI="$awscli/bin/aws" \
    .venv/bin/python infra/bench/cli_bench.py "$bench_base" "$password" target/bench/clibench-env.json \
    --size-mib "${SIZE_MIB:-1024}" --rounds "${ROUNDS:-3}"
