#!/usr/bin/env bash
# Ballast's DNS against NSD (the same zone, static) and gdnsd (a multifo failover resource),
# side by side on loopback.
#
#   bench/dns.sh              RUNS=3 DURATION=5 CLIENTS=4 by default
#
# Cases:
#   - dnsperf with a mix of A, SRV and MX queries: queries per second, average latency and
#     each server's CPU time per query, each run with NSD, gdnsd and Ballast interleaved,
#     medians printed with the ratios;
#   - the same mix at 10,000 queries/s: the 99th percentile of every answer's time (dnsperf -v);
#   - failover: three SIP servers (TCP listeners), one killed; the time until gdnsd and
#     Ballast stop answering its address.
# Every server binds 127.0.0.x; the script stops exactly the processes it started.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
DURATION=${DURATION:-5}
CLIENTS=${CLIENTS:-4}

source bench/lib.sh
need nsd nsd gdnsd gdnsd dnsperf dnsperf dig dnsutils
build_ballast

NSD_PORT=$(free_port); GDNSD_PORT=$(free_port); BALLAST_PORT=$(free_port); SIP_PORT=$(free_port)

# --- three SIP servers: TCP listeners, one process each so one can be killed --------------
listener() {
    "$PY" -c "
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('$1', $SIP_PORT)); s.listen(128)
while True:
    c, _ = s.accept(); c.close()
" &
    PIDS+=($!)
}
listener 127.0.0.31; listener 127.0.0.32; listener 127.0.0.33
VICTIM=${PIDS[1]}

# --- the same zone three ways --------------------------------------------------------------
mkdir -p "$WORK/nsd" "$WORK/gdnsd/zones"
cat > "$WORK/nsd/contoso.com.zone" <<ZONE
\$ORIGIN contoso.com.
\$TTL 300
@ SOA ns1 hostmaster 1 3600 600 604800 60
@ NS ns1
ns1 A 127.0.0.53
pool01 30 A 127.0.0.31
pool01 30 A 127.0.0.32
pool01 30 A 127.0.0.33
_sip._tls 30 SRV 0 10 5061 pool01
@ MX 10 mail
mail A 10.0.0.25
ZONE
cat > "$WORK/nsd/nsd.conf" <<CONF
server:
  ip-address: 127.0.0.1@$NSD_PORT
  port: $NSD_PORT
  username: ""
  chroot: ""
  zonesdir: "$WORK/nsd"
  zonelistfile: "$WORK/nsd/zone.list"
  database: ""
  pidfile: "$WORK/nsd/nsd.pid"
  xfrdfile: "$WORK/nsd/xfrd.state"
  xfrdir: "$WORK/nsd"
  logfile: "$WORK/nsd/nsd.log"
  server-count: 2
  rrl-ratelimit: 0
remote-control:
  control-enable: no
zone:
  name: contoso.com
  zonefile: "$WORK/nsd/contoso.com.zone"
CONF
cat > "$WORK/gdnsd/config" <<CONF
options => { listen => [ 127.0.0.1 ], dns_port => $GDNSD_PORT }
service_types => {
  sip => { plugin => tcp_connect, port => $SIP_PORT, up_thresh => 1, ok_thresh => 1, down_thresh => 1, interval => 2, timeout => 1 }
}
plugins => { multifo => { fe => { service_types => sip, s1 => 127.0.0.31, s2 => 127.0.0.32, s3 => 127.0.0.33 } } }
CONF
cat > "$WORK/gdnsd/zones/contoso.com" <<ZONE
@ SOA ns1 hostmaster 1 3600 600 604800 60
@ NS ns1
ns1 A 127.0.0.53
pool01 30 DYNA multifo!fe
_sip._tls 30 SRV 0 10 5061 pool01
@ MX 10 mail
mail A 10.0.0.25
ZONE
cat > "$WORK/ballast.yaml" <<CONF
pools:
  fe:
    check: {type: tcp, port: $SIP_PORT, interval: 1s, timeout: 500ms, rise: 1, fall: 2}
    servers: [127.0.0.31, 127.0.0.32, 127.0.0.33]
dns:
  listen: 127.0.0.1:$BALLAST_PORT
zones:
  contoso.com:
    records:
      - {name: "@", type: NS, value: ns1}
      - {name: ns1, type: A, value: 127.0.0.53}
      - {name: pool01, type: A, pool: fe, ttl: 30}
      - {name: _sip._tls, type: SRV, priority: 0, weight: 10, port: 5061, target: pool01, pool: fe, ttl: 30}
      - {name: "@", type: MX, preference: 10, value: mail}
      - {name: mail, type: A, value: 10.0.0.25}
CONF

# nsd and gdnsd get a clean signal mask through exec, so that SIGTERM stops them with their children.
nsd -d -c "$WORK/nsd/nsd.conf" >"$WORK/nsd.log" 2>&1 & PIDS+=($!)
gdnsd -c "$WORK/gdnsd" start >"$WORK/gdnsd.log" 2>&1 & PIDS+=($!)
"$BALLAST" run -c "$WORK/ballast.yaml" --log-level error >"$WORK/ballast.log" 2>&1 & PIDS+=($!)

answers() { dig @127.0.0.1 -p "$1" +norecurse +short +time=1 +tries=1 pool01.contoso.com A 2>/dev/null | sort | tr '\n' ' '; }
for port in $NSD_PORT $GDNSD_PORT $BALLAST_PORT; do
    for _ in $(seq 1 100); do [ "$(answers "$port" | wc -w)" = 3 ] && break; sleep 0.1; done
    [ "$(answers "$port" | wc -w)" = 3 ] || { log "no answer on port $port"; tail -n 5 "$WORK"/*.log >&2; exit 1; }
done

# --- throughput ------------------------------------------------------------------------------
for _ in $(seq 1 50); do echo "pool01.contoso.com A"; echo "_sip._tls.contoso.com SRV"; echo "contoso.com MX"; done > "$WORK/queries"
declare -A QPS LAT CPU P99
for run in $(seq 1 "$RUNS"); do
    for target in nsd gdnsd ballast; do
        case $target in nsd) port=$NSD_PORT;; gdnsd) port=$GDNSD_PORT;; ballast) port=$BALLAST_PORT;; esac
        before=$(cpu_seconds "$target")
        out=$(dnsperf -s 127.0.0.1 -p "$port" -d "$WORK/queries" -l "$DURATION" -c "$CLIENTS" -q 200 2>&1)
        after=$(cpu_seconds "$target")
        qps=$(awk '/Queries per second/ {print $4}' <<<"$out")
        latency=$(awk '/Average Latency/ {printf "%.3f", $4 * 1000}' <<<"$out")
        completed=$(awk '/Queries completed/ {print $3}' <<<"$out")
        cpu=$(awk -v a="$before" -v b="$after" -v n="$completed" 'BEGIN { printf "%.2f", (n > 0 ? (b - a) / n * 1e6 : 0) }')
        QPS[$target]+="$qps "; LAT[$target]+="$latency "; CPU[$target]+="$cpu "
        log "run $run: $target: $qps queries/s, average latency $latency ms, $cpu us CPU per query"
    done
done

# --- latency at a fixed rate: p99 of every answer's time at 10,000 queries/s -------------------
for run in $(seq 1 "$RUNS"); do
    for target in nsd gdnsd ballast; do
        case $target in nsd) port=$NSD_PORT;; gdnsd) port=$GDNSD_PORT;; ballast) port=$BALLAST_PORT;; esac
        p99=$(dnsperf -s 127.0.0.1 -p "$port" -d "$WORK/queries" -l "$DURATION" -Q 10000 -v 2>/dev/null \
            | awk '/^> / {print $NF * 1000}' | sort -n | awk '{v[NR] = $1} END {i = int(NR * 0.99); if (i < 1) i = 1; printf "%.3f", v[i]}')
        P99[$target]+="$p99 "
        log "run $run: $target: p99 $p99 ms at 10,000 queries/s"
    done
done

# --- failover: kill one server, time until each stops answering it ----------------------------
now_ms() { date +%s%3N; }
kill "$VICTIM"; wait "$VICTIM" 2>/dev/null || true
start=$(now_ms)
declare -A GONE
for _ in $(seq 1 200); do
    for target in gdnsd ballast; do
        [ -n "${GONE[$target]:-}" ] && continue
        case $target in gdnsd) port=$GDNSD_PORT;; ballast) port=$BALLAST_PORT;; esac
        if ! answers "$port" | grep -q "127.0.0.32"; then GONE[$target]=$(( $(now_ms) - start )); fi
    done
    [ -n "${GONE[gdnsd]:-}" ] && [ -n "${GONE[ballast]:-}" ] && break
    sleep 0.05
done

report() {
    echo "Ballast DNS vs NSD (static) and gdnsd (multifo), loopback, $(nproc) cores, medians of $RUNS runs of ${DURATION}s, dnsperf -c $CLIENTS"
    echo "($(nsd -v 2>&1 | head -1); $(gdnsd -h 2>&1 | sed -n 2p); $(date -u +%Y-%m-%dT%H:%MZ))"
    echo
    printf '%-8s %12s %12s %10s %10s %14s %16s\n' target "queries/s" "latency ms" "/nsd" "/gdnsd" "cpu us/query" "p99 ms @10k q/s"
    n=$(median ${QPS[nsd]}); g=$(median ${QPS[gdnsd]})
    for target in nsd gdnsd ballast; do
        q=$(median ${QPS[$target]})
        printf '%-8s %12s %12s %10s %10s %14s %16s\n' "$target" "$q" "$(median ${LAT[$target]})" "$(ratio "$q" "$n")" "$(ratio "$q" "$g")" "$(median ${CPU[$target]})" "$(median ${P99[$target]})"
    done
    echo
    echo "failover (a server killed, until its address leaves the answers): gdnsd ${GONE[gdnsd]:-over 10000} ms, ballast ${GONE[ballast]:-over 10000} ms (target: within 3000 ms)"
}
mkdir -p bench/out
report | tee "bench/out/dns-$(date -u +%Y%m%dT%H%M%SZ).txt"
