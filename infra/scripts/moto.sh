# Sourced by dev.sh, test.sh and the benchmarks: start and stop the AWS
# emulator (moto) on loopback from the project's virtualenv.

# free_port: prints a TCP port nothing listens on right now.
free_port() {
    "$repo_root/.venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_moto PORT LOG: starts moto_server in the background, waits until it
# answers, and exports the AWS_* variables that point every SDK at it.
start_moto() {
    local port=$1 log=$2
    if "$repo_root/.venv/bin/python" -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.5)' "$port" 2>/dev/null; then
        echo "port $port is already in use: set MOTO_PORT to another" >&2
        return 1
    fi
    # No bundled AMIs: they add ~1,300 Amazon-owned snapshots to every region (LOCAL-AWS.md).
    MOTO_EC2_LOAD_DEFAULT_AMIS=false \
        "$repo_root/.venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
    moto_pid=$!
    local i
    for i in $(seq 1 100); do
        if "$repo_root/.venv/bin/python" -c 'import sys, urllib.request; urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/moto-api/", timeout=1)' "$port" 2>/dev/null; then
            export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
            export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
            export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
            return 0
        fi
        if ! kill -0 "$moto_pid" 2>/dev/null; then
            echo "moto exited while starting; its log ($log):" >&2
            tail -20 "$log" >&2
            return 1
        fi
        sleep 0.1
    done
    echo "moto did not answer on 127.0.0.1:$port within 10 s" >&2
    return 1
}

stop_moto() {
    if [ -n "${moto_pid:-}" ] && kill -0 "$moto_pid" 2>/dev/null; then
        kill "$moto_pid" 2>/dev/null || true
        wait "$moto_pid" 2>/dev/null || true
    fi
    moto_pid=
}
