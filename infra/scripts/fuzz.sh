#!/usr/bin/env bash
# Fuzzes the validator's core (ZIP parsing and checks) for a bounded time.
# Not part of `make test`: run it by hand (FUZZ_SECONDS, default 300).
# Seeds the corpus with the archives of the test corpus' builder.
set -euo pipefail
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
cd "$repo_root/functions/validator"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
mkdir -p fuzz/corpus/validate
cargo test -q --test corpus write_fuzz_seeds -- --ignored >/dev/null
# libFuzzer's coverage instrumentation needs no sanitizer runtime; without one,
# cargo-fuzz works on the stable toolchain (RUSTC_BOOTSTRAP lets it pass -Z flags).
RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none validate fuzz/corpus/validate -- \
    -max_total_time="${FUZZ_SECONDS:-300}" -rss_limit_mb=512 -max_len=262144
