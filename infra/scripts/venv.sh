#!/usr/bin/env bash
# Creates or updates the project-local virtualenv <repo>/.venv (git-ignored) from
# infra/requirements.txt. It installs only when the venv is missing or broken, or
# when requirements.txt changed since the last successful install (the sha256 of
# requirements.txt is kept in .venv/.requirements.sha256). Silent when there is
# nothing to do; one line when it installs; pip's log only when pip fails.
#
# Usage: infra/scripts/venv.sh            (from any directory)
# Env:   PYTHON=python3.12 to choose the interpreter that creates the venv.
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
repo_root=$(cd "$script_dir/../.." && pwd -P)
venv="$repo_root/.venv"
requirements="$repo_root/infra/requirements.txt"
stamp="$venv/.requirements.sha256"
python=${PYTHON:-python3}

die() { printf 'venv.sh: %s\n' "$*" >&2; exit 1; }

command -v "$python" >/dev/null 2>&1 || die "$python not found on PATH (Python >= 3.11 is needed)"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
    die "$("$python" -V 2>&1) is too old: Python >= 3.11 is needed (set PYTHON=...)"
[ -f "$requirements" ] || die "missing $requirements"

# Hash with Python rather than sha256sum/shasum: Python is the one tool we can rely on.
sha256_of() { "$python" -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$1"; }

up_to_date() {
    [ -x "$venv/bin/python" ] && "$venv/bin/python" -c '' 2>/dev/null &&
        [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$(sha256_of "$requirements")" ]
}

# moto's S3 XML roots, fixed in place (see patch_moto.py); idempotent and fast.
finish() { "$venv/bin/python" "$repo_root/infra/scripts/patch_moto.py"; exit $?; }

up_to_date && finish

# Serialise concurrent callers (e.g. parallel test jobs) so that two of them never
# build the same venv at once; flock is optional (absent on macOS by default).
mkdir -p "$venv"
if command -v flock >/dev/null 2>&1; then
    # Lock the directory itself: `venv --clear` below empties it but keeps its inode.
    exec 9<"$venv"
    flock 9
    up_to_date && finish # another caller finished the job while we waited
fi

want=$(sha256_of "$requirements")
log=$(mktemp "${TMPDIR:-/tmp}/cloudkeep-venv.XXXXXX")
trap 'rm -f "$log"' EXIT

printf 'venv.sh: installing infra/requirements.txt into %s (takes ~30 s)\n' "$venv" >&2

# A venv whose interpreter no longer runs (Python upgraded or removed) is rebuilt.
if ! { [ -x "$venv/bin/python" ] && "$venv/bin/python" -c '' 2>/dev/null; }; then
    rm -f "$stamp"
    # --clear empties the directory (but keeps it, and so the lock) first.
    if ! "$python" -m venv --clear "$venv" >"$log" 2>&1; then
        # Debian/Ubuntu ship Python without ensurepip unless python3-venv is
        # installed: make the venv without pip and let the host's pip install pip
        # into it (pip >= 22.3 understands --python).
        "$python" -m venv --clear --without-pip "$venv" >>"$log" 2>&1 ||
            { cat "$log" >&2; die "could not create $venv"; }
        "$python" -m pip --python "$venv/bin/python" install --quiet --disable-pip-version-check pip >>"$log" 2>&1 ||
            { cat "$log" >&2; die "could not bootstrap pip into $venv (install python3-venv, or pip >= 22.3)"; }
    fi
fi

if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    -r "$requirements" >>"$log" 2>&1; then
    cat "$log" >&2
    die "pip install -r infra/requirements.txt failed (the venv is left as it was; rerun to retry)"
fi

# Written last, and only after a successful install, so a failed or interrupted
# install is retried on the next run.
printf '%s\n' "$want" >"$stamp.tmp"
mv "$stamp.tmp" "$stamp"
finish
