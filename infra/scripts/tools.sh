#!/usr/bin/env bash
# Installs the system tools the browser and report tests use: `chromium`
# (opens the HTML report headless), `chromedriver` (drives the console through
# WebDriver) and `pdftotext` from poppler-utils (reads the PDF report's text
# back). Installs only what is missing, with apt-get
# (Debian; run as root, as CI and the dev machines do). Silent when there is
# nothing to do; one line when it installs; apt's log only when it fails.
#
# Usage: infra/scripts/tools.sh    (from any directory)
set -euo pipefail

die() { printf 'tools.sh: %s\n' "$*" >&2; exit 1; }

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
command -v pdftotext >/dev/null 2>&1 || missing+=(poppler-utils)
[ ${#missing[@]} -eq 0 ] && exit 0

command -v apt-get >/dev/null 2>&1 || die "missing ${missing[*]}, and no apt-get to install them with"
[ "$(id -u)" -eq 0 ] || die "missing ${missing[*]}: run as root to install them"

echo "tools.sh: installing ${missing[*]}"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
    cat "$log" >&2
    die "apt-get could not install ${missing[*]}"
fi
