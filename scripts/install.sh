#!/usr/bin/env bash
# Builds the optimised `ballast` and installs it as PREFIX/bin/ballast, so that the README's
# commands work as written. PREFIX is /usr/local when run as root, ~/.local otherwise; set it to
# choose another (PREFIX=/opt/ballast scripts/install.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v swift >/dev/null; then
    echo "swift is not on PATH: install the Swift toolchain (6.1 or later) first" >&2
    exit 1
fi
if [ "$(id -u)" = 0 ]; then default=/usr/local; else default="$HOME/.local"; fi
PREFIX="${PREFIX:-$default}"
echo "building ballast (release; the first build takes several minutes)..."
swift build -c release --product ballast
mkdir -p "$PREFIX/bin"
install -m 0755 "$(swift build -c release --show-bin-path)/ballast" "$PREFIX/bin/ballast"
echo "installed $PREFIX/bin/ballast ($("$PREFIX/bin/ballast" --version))"
case ":$PATH:" in
    *":$PREFIX/bin:"*) ;;
    *) echo "add it to PATH: export PATH=\"$PREFIX/bin:\$PATH\"" ;;
esac
