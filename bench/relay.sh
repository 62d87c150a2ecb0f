#!/usr/bin/env bash
# Ballast's TCP relay against HAProxy `mode tcp` (balance source), side by side, on loopback.
#
#   bench/relay.sh            RUNS=3 DURATION=5 by default; IDLE=10000 idle connections
#
# Cases, each run RUNS times with direct, HAProxy and Ballast interleaved, medians printed:
#   - iperf3 throughput with 1 and 8 streams;
#   - connection rate: wrk with a new connection per request to nginx;
#   - idle connections: resident memory per relayed idle connection, Ballast and HAProxy.
# Every server binds 127.0.0.1; the script stops exactly the processes it started.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
DURATION=${DURATION:-5}
IDLE=${IDLE:-10000}

source bench/lib.sh
need haproxy haproxy iperf3 iperf3 nginx nginx-light wrk wrk
build_ballast

# --- limits ------------------------------------------------------------------------------
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
FD_LIMIT=$(ulimit -n)
# A relay holds two descriptors per connection; leave room for everything else.
MAX_IDLE=$(( (FD_LIMIT - 200) / 2 ))
if [ "$IDLE" -gt "$MAX_IDLE" ]; then
    log "note: the open-file limit ($FD_LIMIT) allows $MAX_IDLE relayed connections per process; measuring $MAX_IDLE, not $IDLE"
    IDLE=$MAX_IDLE
fi

# --- processes ---------------------------------------------------------------------------

IPERF=$(free_port); WEB=$(free_port); HOLD=$(free_port)
H_IPERF=$(free_port); H_WEB=$(free_port); H_IDLE=$(free_port)
B_IPERF=$(free_port); B_WEB=$(free_port); B_IDLE=$(free_port)

mkdir -p "$WORK/www"; echo "hello from nginx" > "$WORK/www/index.html"
cat > "$WORK/nginx.conf" <<EOF
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 4096; }
http {
    access_log off;
    server { listen 127.0.0.1:$WEB backlog=4096; root $WORK/www; }
}
EOF
cat > "$WORK/haproxy.cfg" <<EOF
global
    nbthread 2
    maxconn $((IDLE + 40))
defaults
    mode tcp
    timeout connect 5s
    timeout client 30m
    timeout server 30m
frontend iperf
    bind 127.0.0.1:$H_IPERF
    default_backend iperf
backend iperf
    balance source
    server s1 127.0.0.1:$IPERF
frontend web
    bind 127.0.0.1:$H_WEB
    default_backend web
backend web
    balance source
    server s1 127.0.0.1:$WEB
frontend idle
    bind 127.0.0.1:$H_IDLE
    default_backend idle
backend idle
    balance source
    server s1 127.0.0.1:$HOLD
EOF
cat > "$WORK/ballast.yaml" <<EOF
pools:
  iperf: {servers: [127.0.0.1:$IPERF]}
  web: {servers: [127.0.0.1:$WEB]}
  idle: {servers: [127.0.0.1:$HOLD]}
relays:
  iperf: {listen: 127.0.0.1:$B_IPERF, pool: iperf, mode: source-hash}
  web: {listen: 127.0.0.1:$B_WEB, pool: web, mode: source-hash}
  idle: {listen: 127.0.0.1:$B_IDLE, pool: idle, mode: source-hash, max-connections: $((IDLE + 100))}
EOF

iperf3 -s -B 127.0.0.1 -p "$IPERF" >/dev/null 2>&1 & PIDS+=($!)
nginx -c "$WORK/nginx.conf" -g 'daemon off;' 2>/dev/null & PIDS+=($!)
haproxy -f "$WORK/haproxy.cfg" -db >"$WORK/haproxy.log" 2>&1 & PIDS+=($!); HAPROXY_PID=$!
"$BALLAST" run -c "$WORK/ballast.yaml" --log-level error >"$WORK/ballast.log" 2>&1 & PIDS+=($!); BALLAST_PID=$!
"$PY" bench/idle_hold.py server "$HOLD" >"$WORK/hold.log" 2>&1 & PIDS+=($!)
for port in $IPERF $WEB $HOLD $H_IPERF $H_WEB $B_IPERF $B_WEB $B_IDLE; do wait_port "$port"; done

# --- measurements ------------------------------------------------------------------------

gbps() {  # port streams
    iperf3 -c 127.0.0.1 -p "$1" -P "$2" -t "$DURATION" -J 2>/dev/null |
        "$PY" -c 'import json,sys; print(round(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9, 2))'
}
conns() {  # port: connections (requests) per second, one connection each
    wrk -t1 -c32 -d"${DURATION}s" -H 'Connection: close' "http://127.0.0.1:$1/" | awk '/Requests\/sec/ {print $2}'
}
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

declare -A results
for run in $(seq 1 "$RUNS"); do
    for streams in 1 8; do
        for target in direct haproxy ballast; do
            case $target in direct) port=$IPERF;; haproxy) port=$H_IPERF;; ballast) port=$B_IPERF;; esac
            value=$(gbps "$port" "$streams")
            results["iperf$streams-$target"]+="$value "
            log "run $run: iperf3 -P $streams via $target: $value Gbit/s"
        done
    done
    for target in direct haproxy ballast; do
        case $target in direct) port=$WEB;; haproxy) port=$H_WEB;; ballast) port=$B_WEB;; esac
        value=$(conns "$port")
        results["conns-$target"]+="$value "
        log "run $run: new connection per request via $target: $value/s"
    done
done

idle_cost() {  # pid port: KiB of resident memory per idle relayed connection
    local pid=$1 port=$2 before after holder
    before=$(rss_kib "$pid")
    "$PY" bench/idle_hold.py client "$port" "$IDLE" >"$WORK/client.out" 2>&1 & holder=$!
    for _ in $(seq 1 600); do grep -q ready "$WORK/client.out" 2>/dev/null && break; sleep 0.1; done
    if ! grep -q "ready $IDLE" "$WORK/client.out"; then
        log "idle clients did not all connect: $(cat "$WORK/client.out")"; kill "$holder"; wait "$holder" 2>/dev/null || true
        echo "n/a"; return
    fi
    sleep 2
    after=$(rss_kib "$pid")
    kill "$holder"; wait "$holder" 2>/dev/null || true
    sleep 2
    awk -v a="$after" -v b="$before" -v n="$IDLE" 'BEGIN { printf "%.1f", (a - b) / n }'
}
BALLAST_IDLE=$(idle_cost "$BALLAST_PID" "$B_IDLE")
HAPROXY_IDLE=$(idle_cost "$HAPROXY_PID" "$H_IDLE")

# --- report ------------------------------------------------------------------------------
report() {
    echo "Ballast relay vs HAProxy mode tcp, loopback, $(nproc) cores, medians of $RUNS runs of ${DURATION}s"
    echo "($(haproxy -v | head -1 | cut -d' ' -f1-3); $(date -u +%Y-%m-%dT%H:%MZ))"
    echo
    printf '%-36s %10s %10s %10s %9s %9s %9s\n' case direct haproxy ballast "hap/dir" "bal/dir" "bal/hap"
    for case in iperf1 iperf8 conns; do
        d=$(median ${results[$case-direct]}); h=$(median ${results[$case-haproxy]}); b=$(median ${results[$case-ballast]})
        case $case in
            iperf1) name="iperf3 1 stream (Gbit/s)";;
            iperf8) name="iperf3 8 streams (Gbit/s)";;
            conns) name="new connection per request (/s)";;
        esac
        printf '%-36s %10s %10s %10s %9s %9s %9s\n' "$name" "$d" "$h" "$b" "$(ratio "$h" "$d")" "$(ratio "$b" "$d")" "$(ratio "$b" "$h")"
    done
    echo
    echo "resident memory per idle relayed connection ($IDLE connections): ballast $BALLAST_IDLE KiB, haproxy $HAPROXY_IDLE KiB (target: under 32 KiB)"
}
mkdir -p bench/out
report | tee "bench/out/relay-$(date -u +%Y%m%dT%H%M%SZ).txt"
