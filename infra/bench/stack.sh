# Sourced by the benchmark scripts, after moto.sh.
#
# bench_stack NAME PACKAGE...: builds the release binaries of PACKAGE... (the
# profile Lambda runs) and the dev tools, starts an emulator that stops when
# the script exits, bootstraps stack NAME from template.yaml, and writes its
# functions' environments to target/bench/NAME-env.json.
bench_stack() {
    local name=$1 package packages=()
    shift
    for package in "$@"; do packages+=(-p "$package"); done
    infra/scripts/venv.sh
    cargo build --locked --release "${packages[@]}"
    cargo build --locked --workspace --all-targets
    mkdir -p target/bench
    trap stop_moto EXIT
    start_moto "$(free_port)" "target/bench/moto-$name.log"
    CLOUDKEEP_STACK="$name" target/debug/devstack env > "target/bench/$name-env.json"
}
