#!/usr/bin/env bash
# The main job: builds Ballast and runs `ballast demo`, the complete two-site lab on loopback
# (web, SIP and IMAP sample servers at both sites, DNS, a SQLite directory, the dashboard),
# printing the URLs and what to try. Ctrl-C stops it. Pass demo options through, such as
# --base-port 21000 when ports 20000-21000 are taken.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v swift >/dev/null; then
    echo "swift is not on PATH: install the Swift toolchain (6.1 or later) first" >&2
    exit 1
fi
# The commands the lab prints use these, and the build needs nghttp2's headers
# (libnghttp2-dev) for the engine's HTTP/2; install what is missing (Debian).
missing=()
for package in libnghttp2-dev pkg-config; do dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package"); done
for pair in dig:dnsutils curl:curl sipsak:sipsak; do
    command -v "${pair%%:*}" >/dev/null || missing+=("${pair##*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null || true
fi
echo "building ballast (the first build takes a few minutes)..."
swift build --product ballast
exec "$(swift build --show-bin-path)/ballast" demo "$@"
