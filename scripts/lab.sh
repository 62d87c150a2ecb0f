#!/usr/bin/env bash
# Runs the loopback lab: three sample web servers (two primaries, one backup) behind Ballast,
# with health checks and the admin API. Ctrl-C stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v swift >/dev/null; then
    echo "swift is not on PATH: install the Swift toolchain (6.1 or later) first" >&2
    exit 1
fi
echo "building ballast (the first build takes a few minutes)..."
swift build --product ballast
BIN=$(swift build --show-bin-path)/ballast

PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

"$BIN" sample-server --listen 127.0.0.1:18081 --name web1 >/dev/null & PIDS+=($!)
"$BIN" sample-server --listen 127.0.0.1:18082 --name web2 >/dev/null & PIDS+=($!)
"$BIN" sample-server --listen 127.0.0.1:18083 --name spare >/dev/null & SPARE=$!; PIDS+=($SPARE)
WEB1=${PIDS[0]}

"$BIN" check -c examples/local-lab.yaml
cat <<TRY

Ballast lab: relay web on 127.0.0.1:8080 -> web1, web2 (spare is the backup); admin on 127.0.0.1:9900.
In another terminal, try:

  curl -s http://127.0.0.1:8080/                     # web1, web2, web1, ... (round-robin)
  $BIN status --admin 127.0.0.1:9900   # pools, servers, health
  $BIN drain web/web1 --admin 127.0.0.1:9900         # web1 takes no new connections
  kill $WEB1                                           # web1 dies: out of rotation within 2 s
  kill -HUP \$(pgrep -f 'ballast run -c examples/local-lab.yaml')   # reload the config
  curl -s http://127.0.0.1:9900/metrics              # Prometheus metrics

Ctrl-C stops the lab. For your own config: $BIN check -c my.yaml && $BIN run -c my.yaml

TRY
"$BIN" run -c examples/local-lab.yaml & PIDS+=($!)
wait "${PIDS[-1]}"
