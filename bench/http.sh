#!/usr/bin/env bash
# Ballast's HTTP relay against HAProxy `mode http` and nginx as a proxy, side by side, on loopback.
#
#   bench/http.sh             RUNS=3 DURATION=5 CONNECTIONS=32 by default
#
# The same two nginx servers stand behind every proxy. Cases, each run RUNS times with the
# targets interleaved; medians of requests per second, p50 and p99 are printed, with the
# ratio of requests per second to HAProxy's:
#   keep-alive 100 B, keep-alive 64 KiB, cookie persistence, TLS termination to plain,
#   TLS to TLS (re-encryption), a new connection per request, a new TLS connection (a full
#   handshake) per request, and HTTP/2 over TLS with h2load (100 streams over 10 connections;
#   against HAProxy only).
# Ballast's target is `engine`: its HTTP relays on Ballast's own engine, TLS over the BoringSSL
# swift-nio-ssl vendors. The target `openssl` is the same Ballast built with its TLS over
# Debian's OpenSSL 3 (not in the default TARGETS; it builds a second binary in .build-openssl):
#   CASES="tls tls2tls tlsnew h2" TARGETS="haproxy engine openssl" bench/http.sh
#   CASES="ka100 cookie" TARGETS="haproxy engine" bench/http.sh   measures a subset
#   IDLE=0 skips the idle-memory measurement
# Every proxy adds X-Forwarded-For and sets X-Forwarded-Proto, as Ballast's relays do by
# default (D1's servers log the client's address), so that every server parses the same request.
# Every server binds 127.0.0.1; the script stops exactly the processes it started.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
DURATION=${DURATION:-5}
CONNECTIONS=${CONNECTIONS:-32}

source bench/lib.sh
need haproxy haproxy nginx nginx-light wrk wrk openssl openssl h2load nghttp2-client
build_ballast
case " ${TARGETS:-} " in *" openssl "*) build_ballast_openssl;; esac
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true


# --- certificates: a CA, and one certificate for 127.0.0.1 / localhost used everywhere ----
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "/CN=Bench CA" \
    -keyout "$WORK/ca.key" -out "$WORK/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=localhost" \
    -keyout "$WORK/server.key" -out "$WORK/server.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > "$WORK/san.ext"
openssl x509 -req -in "$WORK/server.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" -CAcreateserial -days 2 \
    -extfile "$WORK/san.ext" -out "$WORK/server.pem" 2>/dev/null
cat "$WORK/server.pem" "$WORK/server.key" > "$WORK/server-haproxy.pem"

# --- the servers: two nginx workers' worth, plain and TLS ports each ---------------------
S1=$(free_port); S2=$(free_port); T1=$(free_port); T2=$(free_port)
mkdir -p "$WORK/www"
head -c 100 /dev/zero | tr '\0' 'x' > "$WORK/www/small"
head -c 65536 /dev/zero | tr '\0' 'x' > "$WORK/www/large"
cat > "$WORK/servers.conf" <<CONF
worker_processes 1;
pid $WORK/servers.pid;
error_log $WORK/servers-error.log;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    server { listen 127.0.0.1:$S1 backlog=4096; listen 127.0.0.1:$T1 ssl backlog=4096; root $WORK/www;
             ssl_certificate $WORK/server.pem; ssl_certificate_key $WORK/server.key; }
    server { listen 127.0.0.1:$S2 backlog=4096; listen 127.0.0.1:$T2 ssl backlog=4096; root $WORK/www;
             ssl_certificate $WORK/server.pem; ssl_certificate_key $WORK/server.key; }
}
CONF

# --- the proxies: per case one port each ---------------------------------------------------
declare -A PORT
for target in haproxy nginx engine openssl; do
    for case in plain cookie tls tls2tls; do PORT[$target-$case]=$(free_port); done
done
# HTTP/2 over TLS: HAProxy on a frontend offering h2 by ALPN; Ballast's https relay offers it on
# its tls port already.
PORT[haproxy-h2]=$(free_port); PORT[engine-h2]=${PORT[engine-tls]}; PORT[openssl-h2]=${PORT[openssl-tls]}

cat > "$WORK/haproxy.cfg" <<CONF
global
    nbthread 2
    maxconn 8000
    ssl-server-verify required
defaults
    mode http
    timeout connect 5s
    timeout client 30m
    timeout server 60s
    timeout http-keep-alive 30m
    option http-keep-alive
    option forwardfor
    http-reuse always
frontend plain
    bind 127.0.0.1:${PORT[haproxy-plain]}
    http-request set-header X-Forwarded-Proto http
    default_backend plain
frontend cookie
    bind 127.0.0.1:${PORT[haproxy-cookie]}
    http-request set-header X-Forwarded-Proto http
    default_backend cookie
frontend tls
    bind 127.0.0.1:${PORT[haproxy-tls]} ssl crt $WORK/server-haproxy.pem alpn http/1.1
    http-request set-header X-Forwarded-Proto https
    default_backend plain
frontend h2
    bind 127.0.0.1:${PORT[haproxy-h2]} ssl crt $WORK/server-haproxy.pem alpn h2,http/1.1
    http-request set-header X-Forwarded-Proto https
    default_backend plain
frontend tls2tls
    bind 127.0.0.1:${PORT[haproxy-tls2tls]} ssl crt $WORK/server-haproxy.pem alpn http/1.1
    http-request set-header X-Forwarded-Proto https
    default_backend tls
backend plain
    balance roundrobin
    server s1 127.0.0.1:$S1
    server s2 127.0.0.1:$S2
backend cookie
    balance roundrobin
    cookie LB insert indirect nocache
    server s1 127.0.0.1:$S1 cookie s1
    server s2 127.0.0.1:$S2 cookie s2
backend tls
    balance roundrobin
    server s1 127.0.0.1:$T1 ssl ca-file $WORK/ca.pem
    server s2 127.0.0.1:$T2 ssl ca-file $WORK/ca.pem
CONF

FORWARDING='proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; proxy_set_header X-Forwarded-Proto $scheme;'
cat > "$WORK/nginx-proxy.conf" <<CONF
worker_processes 2;
pid $WORK/proxy.pid;
error_log $WORK/proxy-error.log;
events { worker_connections 8192; }
http {
    access_log off;
    keepalive_requests 1000000;
    upstream plain { server 127.0.0.1:$S1; server 127.0.0.1:$S2; keepalive 64; }
    upstream tls { server 127.0.0.1:$T1; server 127.0.0.1:$T2; keepalive 64; }
    server { listen 127.0.0.1:${PORT[nginx-plain]};
             location / { proxy_pass http://plain; proxy_http_version 1.1; proxy_set_header Connection ""; $FORWARDING } }
    server { listen 127.0.0.1:${PORT[nginx-cookie]};
             location / { proxy_pass http://plain; proxy_http_version 1.1; proxy_set_header Connection ""; $FORWARDING } }
    server { listen 127.0.0.1:${PORT[nginx-tls]} ssl; ssl_certificate $WORK/server.pem; ssl_certificate_key $WORK/server.key;
             location / { proxy_pass http://plain; proxy_http_version 1.1; proxy_set_header Connection ""; $FORWARDING } }
    server { listen 127.0.0.1:${PORT[nginx-tls2tls]} ssl; ssl_certificate $WORK/server.pem; ssl_certificate_key $WORK/server.key;
             location / { proxy_pass https://tls; proxy_http_version 1.1; proxy_set_header Connection ""; $FORWARDING
                          proxy_ssl_verify on; proxy_ssl_trusted_certificate $WORK/ca.pem; proxy_ssl_name localhost;
                          proxy_ssl_session_reuse on; } }
}
CONF

cat > "$WORK/ballast.yaml" <<CONF
pools:
  plain: {servers: ["127.0.0.1:$S1", "127.0.0.1:$S2"]}
  tls: {servers: ["127.0.0.1:$T1", "127.0.0.1:$T2"]}
relays:
  plain-engine: {listen: "127.0.0.1:${PORT[engine-plain]}", protocol: http, pool: plain, mode: round-robin, engine: ballast}
  cookie-engine:
    listen: "127.0.0.1:${PORT[engine-cookie]}"
    protocol: http
    pool: plain
    mode: round-robin
    engine: ballast
    persistence: {type: cookie, name: LB, key: bench-secret-of-enough-length}
  tls-engine:
    listen: "127.0.0.1:${PORT[engine-tls]}"
    protocol: https
    pool: plain
    mode: round-robin
    engine: ballast
    max-connections: 8000
    timeouts: {keep-alive: 30m, idle: 30m}
    certificates: [{certificate: $WORK/server.pem, key: $WORK/server.key}]
  tls2tls-engine:
    listen: "127.0.0.1:${PORT[engine-tls2tls]}"
    protocol: https
    pool: tls
    mode: round-robin
    engine: ballast
    certificates: [{certificate: $WORK/server.pem, key: $WORK/server.key}]
    server-tls: {ca-file: $WORK/ca.pem}
CONF

nginx -c "$WORK/servers.conf" -g 'daemon off;' 2>"$WORK/servers.log" & PIDS+=($!)
haproxy -f "$WORK/haproxy.cfg" -db >"$WORK/haproxy.log" 2>&1 & PIDS+=($!)
nginx -c "$WORK/nginx-proxy.conf" -g 'daemon off;' 2>"$WORK/proxy.log" & PIDS+=($!)
"$BALLAST" run -c "$WORK/ballast.yaml" --log-level error >"$WORK/ballast.log" 2>&1 & PIDS+=($!)
STARTED="haproxy nginx engine"
if [ -n "${BALLAST_OPENSSL:-}" ]; then
    sed -e "s/:${PORT[engine-plain]}\"/:${PORT[openssl-plain]}\"/" -e "s/:${PORT[engine-cookie]}\"/:${PORT[openssl-cookie]}\"/" \
        -e "s/:${PORT[engine-tls]}\"/:${PORT[openssl-tls]}\"/" -e "s/:${PORT[engine-tls2tls]}\"/:${PORT[openssl-tls2tls]}\"/" \
        "$WORK/ballast.yaml" > "$WORK/ballast-openssl.yaml"
    "$BALLAST_OPENSSL" run -c "$WORK/ballast-openssl.yaml" --log-level error >"$WORK/ballast-openssl.log" 2>&1 & PIDS+=($!)
    STARTED+=" openssl"
fi
for target in $STARTED; do
    for case in plain cookie; do wait_port "${PORT[$target-$case]}"; done
done
for target in $STARTED; do
    for case in tls tls2tls; do wait_port "${PORT[$target-$case]}"; done
done
for port in $S1 $S2 $T1 $T2; do wait_port "$port"; done
# Every body is what its case names (a 403 from a misconfigured server would measure nothing).
for path in small large; do
    size=$(curl -s -o /dev/null -w '%{http_code} %{size_download}' "http://127.0.0.1:$S1/$path")
    want=$([ $path = small ] && echo "200 100" || echo "200 65536")
    [ "$size" = "$want" ] || { log "the servers answer /$path with '$size', not '$want'"; exit 1; }
done

# --- measurements --------------------------------------------------------------------------
to_ms() { awk -v v="$1" 'BEGIN { n=v+0; if (v ~ /us$/) n/=1000; else if (v ~ /ms$/) n+=0; else if (v ~ /s$/) n*=1000; printf "%.2f", n }'; }

# wrk URL [extra args...] -> "rps p50ms p99ms"
measure() {
    local url=$1; shift
    wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$@" "$url" 2>/dev/null | awk '
        /Requests\/sec/ {rps=$2} $1=="50%" {p50=$2} $1=="99%" {p99=$2}
        /Non-2xx or 3xx responses/ {bad=$5}
        /Socket errors/ {gsub(",", ""); errors="connect " $4 " read " $6 " write " $8 " timeout " $10}
        END {if (bad > 0) rps=0; if (errors != "") print errors > "/dev/stderr"; print rps, p50, p99}' \
        | { read -r rps p50 p99; echo "$rps $(to_ms "$p50") $(to_ms "$p99")"; }
}

# h2load URL -> "rps - -": HTTP/2 over TLS, 100 streams at once over 10 connections.
measure_h2() {
    h2load -t2 -c10 -m10 -D "$DURATION" --warm-up-time=1 "$1" 2>/dev/null | awk '
        /^finished in/ {gsub(",", ""); rps=$4} /^requests:/ {failed=$10}
        END {if (failed > 0) rps=0; print rps, "-", "-"}'
}

CASES=${CASES:-"ka100 ka64k cookie tls tls2tls newconn tlsnew h2"}
TARGETS=${TARGETS:-"direct haproxy nginx engine"}
# HTTP/2 is measured against HAProxy only (the servers and the nginx proxy speak HTTP/1.1 here).
applies() { [ "$2" != h2 ] || [ "$1" = haproxy ] || [ "$1" = engine ] || [ "$1" = openssl ]; }
url_for() {  # target case
    local target=$1 case=$2
    case $case in
        ka100) [ "$target" = direct ] && echo "http://127.0.0.1:$S1/small" || echo "http://127.0.0.1:${PORT[$target-plain]}/small";;
        ka64k) [ "$target" = direct ] && echo "http://127.0.0.1:$S1/large" || echo "http://127.0.0.1:${PORT[$target-plain]}/large";;
        cookie) [ "$target" = direct ] && echo "http://127.0.0.1:$S1/small" || echo "http://127.0.0.1:${PORT[$target-cookie]}/small";;
        tls) [ "$target" = direct ] && echo "https://127.0.0.1:$T1/small" || echo "https://127.0.0.1:${PORT[$target-tls]}/small";;
        tls2tls) [ "$target" = direct ] && echo "https://127.0.0.1:$T1/small" || echo "https://127.0.0.1:${PORT[$target-tls2tls]}/small";;
        newconn) [ "$target" = direct ] && echo "http://127.0.0.1:$S1/small" || echo "http://127.0.0.1:${PORT[$target-plain]}/small";;
        tlsnew) [ "$target" = direct ] && echo "https://127.0.0.1:$T1/small" || echo "https://127.0.0.1:${PORT[$target-tls]}/small";;
        h2) echo "https://127.0.0.1:${PORT[$target-h2]}/small";;
    esac
}

# The process whose CPU a target spends (its name, and text of its command line); direct has no proxy.
process_of() { case $1 in haproxy) echo haproxy;; engine) echo "ballast ballast.yaml";; openssl) echo "ballast ballast-openssl.yaml";; *) echo "";; esac; }

declare -A RPS P50 P99 CPU
for run in $(seq 1 "$RUNS"); do
    for case in $CASES; do
        extra=()
        { [ "$case" = newconn ] || [ "$case" = tlsnew ]; } && extra=(-H "Connection: close")
        [ "$case" = cookie ] && extra=(-H "Cookie: LB=none")
        for target in $TARGETS; do
            applies "$target" "$case" || continue
            process=$(process_of "$target")
            # shellcheck disable=SC2086
            before=$([ -n "$process" ] && cpu_seconds $process || echo 0)
            if [ "$case" = h2 ]; then
                read -r rps p50 p99 <<<"$(measure_h2 "$(url_for "$target" "$case")")"
            else
                read -r rps p50 p99 <<<"$(measure "$(url_for "$target" "$case")" "${extra[@]}")"
            fi
            # shellcheck disable=SC2086
            after=$([ -n "$process" ] && cpu_seconds $process || echo 0)
            # CPU per request (user + system, µs): steadier than rates on a shared machine.
            cpu=$(awk -v a="$after" -v b="$before" -v r="$rps" -v d="$DURATION" 'BEGIN { if (r > 0) printf "%.1f", (a - b) * 1e6 / (r * d); else print "n/a" }')
            RPS[$case-$target]+="$rps "; P50[$case-$target]+="$p50 "; P99[$case-$target]+="$p99 "; CPU[$case-$target]+="$cpu "
            log "run $run: $case via $target: $rps req/s, p50 $p50 ms, p99 $p99 ms, $cpu µs CPU/request"
        done
    done
done

report() {
    echo "Ballast HTTP relay vs HAProxy mode http and nginx, loopback, $(nproc) cores, medians of $RUNS runs of ${DURATION}s, $CONNECTIONS connections"
    echo "($(haproxy -v | head -1 | cut -d' ' -f1-3); $(nginx -v 2>&1 | cut -d' ' -f3); $(date -u +%Y-%m-%dT%H:%MZ))"
    echo
    printf '%-9s %-8s %10s %9s %9s %8s %9s\n' case target "req/s" "p50 ms" "p99 ms" "/haproxy" "µs CPU/req"
    for case in $CASES; do
        h=$(median ${RPS[$case-haproxy]:-0})
        for target in $TARGETS; do
            applies "$target" "$case" || continue
            r=$(median ${RPS[$case-$target]})
            printf '%-9s %-8s %10s %9s %9s %8s %9s\n' "$case" "$target" "$r" "$(median ${P50[$case-$target]})" \
                "$(median ${P99[$case-$target]})" "$(ratio "$r" "$h")" "$(median ${CPU[$case-$target]})"
        done
    done
}
# Resident memory per idle keep-alive TLS client connection: IDLE clients each make one request
# over TLS and stay connected; the growth of the proxy's resident memory, per connection.
IDLE=${IDLE:-5000}
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
pid_of() { case $1 in haproxy) pgrep -x haproxy | head -1;; openssl) pgrep -f "ballast-openssl.yaml" | head -1;; *) pgrep -f "$BALLAST run" | head -1;; esac; }
declare -A IDLE_KIB
for target in $TARGETS; do
    [ "$target" = direct ] || [ "$target" = nginx ] || [ "$IDLE" -eq 0 ] && continue
    pid=$(pid_of "$target"); before=$(rss_kib "$pid")
    "$PY" bench/idle_hold.py tls "${PORT[$target-tls]}" "$IDLE" >"$WORK/idle.out" 2>&1 & holder=$!
    for _ in $(seq 1 1200); do grep -q ready "$WORK/idle.out" 2>/dev/null && break; sleep 0.1; done
    sleep 2
    after=$(rss_kib "$pid")
    if grep -q "^ready $IDLE$" "$WORK/idle.out"; then
        IDLE_KIB[$target]=$(awk -v a="$after" -v b="$before" -v n="$IDLE" 'BEGIN { printf "%.1f", (a - b) / n }')
    else
        log "idle TLS clients via $target: $(cat "$WORK/idle.out")"; IDLE_KIB[$target]=n/a
    fi
    log "idle TLS via $target: ${IDLE_KIB[$target]} KiB per connection"
    kill "$holder"; wait "$holder" 2>/dev/null || true
    sleep 2
done
idle_report() {
    echo
    echo "resident memory per idle keep-alive TLS client connection ($IDLE connections, KiB):"
    for target in "${!IDLE_KIB[@]}"; do
        printf '  %-8s %6s   /haproxy %s\n' "$target" "${IDLE_KIB[$target]}" "$(ratio "${IDLE_KIB[$target]}" "${IDLE_KIB[haproxy]:-0}")"
    done
}

mkdir -p bench/out
{ report; idle_report; } | tee "bench/out/http-$(date -u +%Y%m%dT%H%M%SZ).txt"
