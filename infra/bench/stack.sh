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

# bench_serve NAME BINARY PASSWORD: serves stack NAME with the dev server
# BINARY on a free port, its admin's password PASSWORD, logging to
# target/bench/NAME-server.log; waits until it is ready, sets bench_base and
# bench_server, and stops it (and the emulator) when the script exits.
bench_serve() {
    local name=$1 binary=$2 password=$3 port
    port=$(free_port)
    PORT=$port CLOUDKEEP_STACK=$name CLOUDKEEP_ADMIN_PASSWORD=$password RUST_LOG=warn \
        "$binary" serve > "target/bench/$name-server.log" 2>&1 &
    bench_server=$!
    trap 'kill "$bench_server" 2>/dev/null || true; stop_moto' EXIT
    for _ in $(seq 1 300); do
        grep -q "cloudkeep ready" "target/bench/$name-server.log" && break
        kill -0 "$bench_server" 2>/dev/null || { tail -20 "target/bench/$name-server.log" >&2; return 1; }
        sleep 0.1
    done
    bench_base="http://127.0.0.1:$port"
}
