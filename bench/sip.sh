#!/usr/bin/env bash
# Ballast's SIP registrar against Kamailio, side by side on loopback, with the same load
# generator (SIPp) and the same users.
#
#   bench/sip.sh              RUNS=3 USERS=1000 CALLS=20000 CONCURRENCY=200 by default
#   CASES=failover bench/sip.sh   one case only (rate, failover)
#   SOCKETS="u1 un" bench/sip.sh  the rate case over these SIPp transports only (un u1 tn t1)
#   SCENARIOS="register" bench/sip.sh   these rate scenarios only (register refresh redirect)
#   PROFILE=ballast-journal bench/sip.sh   perf profile of that variant, in /tmp/sip-profile-*.txt
#   PERFSTAT=ballast bench/sip.sh   task clock and context switches of that variant, in /tmp/sip-perfstat-*.txt
#
# Cases:
#   - REGISTER with digest authentication (REGISTER, 401, REGISTER with Authorization, 200)
#     over UDP and TCP, from a socket per registration (many phones, up to 1,000 source ports)
#     and from one socket (one SBC or front proxy); and the same sign-in of a user homed at the
#     other pool, answered 301 to its home registrar. Registrations per second, average time per
#     registration, and the CPU time each server spent per registration (from /proc, all its
#     processes), which the shared machine's noise touches less than the rate. Kamailio: as many workers as cores, registrar +
#     auth_db (db_text, HA1 column) + usrloc in memory. Ballast: registrar with the users file,
#     bindings in memory and, second line, kept in its registrations file as it ships.
#   - failover: a pool's one front end is stopped; the time until the backup registrar
#     accepts the pool's users (Ballast: 200 with Presence-State at the backup registrar) and
#     until Kamailio's dispatcher, pinging with OPTIONS, sends REGISTERs to the backup set.
#     Both use 2 missed probes; Kamailio's ping interval cannot go below 1 s, Ballast's check
#     runs every 500 ms with 1 s of failure detection (the example's settings).
# Every server binds 127.0.0.1; the script stops exactly the processes it started.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
USERS=${USERS:-1000}
CALLS=${CALLS:-20000}
CONCURRENCY=${CONCURRENCY:-200}
CASES=${CASES:-rate failover}

source bench/lib.sh
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
need kamailio kamailio sipp sip-tester
[ -f /usr/lib/x86_64-linux-gnu/kamailio/modules/dispatcher.so ] || need nonexistent-command kamailio-extra-modules
build_ballast
MODULES=$(dirname "$(find /usr/lib -name registrar.so -path '*kamailio*' | head -1)")

# --- the same users three ways: Ballast's users file, Kamailio's subscriber table, SIPp's list
mkdir -p "$WORK/kdb"
"$PY" - "$WORK" "$USERS" <<'PY'
import hashlib, sys
work, count = sys.argv[1], int(sys.argv[2])
md5 = lambda s: hashlib.md5(s.encode()).hexdigest()
sha = lambda s: hashlib.sha256(s.encode()).hexdigest()
ballast = ["realm: bench.example", "users:"]
kamailio = ["id(int,auto) username(string) domain(string) password(string) ha1(string) ha1b(string) "]
sipp = ["SEQUENTIAL"]
away = ["SEQUENTIAL"]
for i in range(1, 2 * count + 1):
    # user0001...: homed at pool-hq; away0001...: homed at pool-dr, redirected by pool-hq.
    n = i if i <= count else i - count
    user = f"user{n:04d}" if i <= count else f"away{n:04d}"
    password = f"pw-{user}"
    home = "pool-hq" if i <= count else "pool-dr"
    ha1 = md5(f"{user}:bench.example:{password}")
    ballast += [f"  - uri: sip:{user}@bench.example", f"    home-pool: {home}", f"    ha1-md5: {ha1}",
                f"    ha1-sha256: {sha(f'{user}:bench.example:{password}')}"]
    kamailio.append(f"{i}:{user}:bench.example:{password}:{ha1}:{md5(f'{user}@bench.example:bench.example:{password}')}")
    (sipp if i <= count else away).append(f"{user};[authentication username={user} password={password}]")
open(f"{work}/users.yaml", "w").write("\n".join(ballast) + "\n")
open(f"{work}/kdb/subscriber", "w").write("\n".join(kamailio) + "\n")
open(f"{work}/users.csv", "w").write("\n".join(sipp) + "\n")
open(f"{work}/away.csv", "w").write("\n".join(away) + "\n")
PY
printf 'table_name(string) table_version(int) \nsubscriber:7\nlocation:9\nlocation_attrs:1\n' > "$WORK/kdb/version"

# --- two front ends (one per site), sample SIP servers that answer 200 -----------------------
FE_HQ=$(free_port); FE_DR=$(free_port)
start_fe() { "$BALLAST" sample-server --sip --listen "127.0.0.1:$1" --name "$2" > "$WORK/fe-$2.log" 2>&1 & PIDS+=($!); echo $! > "$WORK/fe-$2.pid"; }
start_fe "$FE_HQ" hq; start_fe "$FE_DR" dr

# --- Ballast: registrars of pool-hq and pool-dr, each other's backup ---------------------------
B_HQ=$(free_port); B_DR=$(free_port); ADMIN=$(free_port)
ballast_config() {  # $1: extra sip lines
    cat <<YAML
admin: {listen: 127.0.0.1:$ADMIN}
sites: {hq: {}, dr: {}}
checks:
  fe: {type: sip-options, interval: 500ms, timeout: 400ms, rise: 2, fall: 2}
pools:
  pool-hq: {site: hq, backup-pool: pool-dr, check: fe, servers: [127.0.0.1:$FE_HQ]}
  pool-dr: {site: dr, backup-pool: pool-hq, check: fe, servers: [127.0.0.1:$FE_DR]}
sip:
  realm: bench.example
  users-file: $WORK/users.yaml
  failure-detection: 1s
  fallback: 2s
$1
  registrars:
    pool-hq: {listen: [udp://127.0.0.1:$B_HQ, tcp://127.0.0.1:$B_HQ]}
    pool-dr: {listen: [udp://127.0.0.1:$B_DR]}
YAML
}
ballast_config "" > "$WORK/ballast.yaml"
ballast_config "  registrations-file: $WORK/registrations.jsonl" > "$WORK/ballast-journal.yaml"

# --- Kamailio: registrar with digest (auth_db over db_text), usrloc in memory ----------------
K_REG=$(free_port)
cat > "$WORK/kamailio.cfg" <<CFG
#!KAMAILIO
debug=0
log_stderror=yes
fork=yes
children=$(nproc)
auto_aliases=no
listen=udp:127.0.0.1:$K_REG
listen=tcp:127.0.0.1:$K_REG
mpath="$MODULES/"
loadmodule "db_text.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"
loadmodule "auth_db.so"
loadmodule "ctl.so"
modparam("ctl", "binrpc", "unix:$WORK/kamailio-reg.ctl")
modparam("usrloc", "db_mode", 0)
modparam("auth_db", "db_url", "text://$WORK/kdb")
modparam("auth_db", "calculate_ha1", 0)
modparam("auth_db", "password_column", "ha1")
modparam("auth_db", "load_credentials", "")
modparam("auth", "qop", "auth")
modparam("auth", "nonce_count", 1)
request_route {
    if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
    if (is_method("REGISTER")) {
        if (!www_authorize("\$td", "subscriber")) { www_challenge("\$td", "1"); exit; }
        consume_credentials();
        # Users homed at the other pool go there, as Ballast's registrar sends them.
        if (\$(fU{s.substr,0,4}) == "away") {
            append_to_reply("Contact: <sip:127.0.0.1:$B_DR>;q=1.0\r\n");
            sl_send_reply("301", "Redirect request to Home Server");
            exit;
        }
        if (!save("location")) { sl_reply_error(); }
        exit;
    }
    sl_send_reply("405", "Method Not Allowed");
}
CFG

per_registration() { awk -v a="$1" -v b="$2" -v n="$CALLS" 'BEGIN { printf "%.1f", (b - a) / n * 1e6 }'; }

# udp_ready PORT: until a SIP OPTIONS to 127.0.0.1:PORT is answered.
udp_ready() {
    for _ in $(seq 1 100); do
        "$PY" - "$1" <<'PY' && return 0
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.1); s.bind(("127.0.0.1", 0))
p = s.getsockname()[1]
s.sendto((f"OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{p};branch=z9hG4bKready\r\nFrom: <sip:r@bench.example>;tag=1\r\n"
          f"To: <sip:127.0.0.1>\r\nCall-ID: ready\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n").encode(), ("127.0.0.1", int(sys.argv[1])))
try: s.recv(4096)
except Exception: sys.exit(1)
PY
        sleep 0.1
    done
    log "nothing answers SIP on 127.0.0.1:$1"; exit 1
}

# register_rate PORT SOCKETS SCENARIO USERS: one SIPp run; prints "registrations/s avg-ms".
# SOCKETS "un" (UDP) or "tn" (TCP) gives each registration a socket of its own (many phones, up
# to 1,000 source ports); "u1" or "t1" sends them all from one socket (phones behind one SBC,
# Edge server or front proxy: one source).
register_rate() {
    local stat="$WORK/stat-$RANDOM.csv" start end
    start=$(date +%s.%N)
    timeout 300 sipp "127.0.0.1:$1" -sf "bench/sip/$3.xml" -inf "$WORK/$4.csv" -m "$CALLS" -r 1000000 \
        -l "$CONCURRENCY" -t "$2" -max_socket 1000 -buff_size 4194304 -i 127.0.0.1 -p 0 -nostdin -timeout 120s -timeout_error \
        -trace_stat -stf "$stat" -fd 1 -trace_err -error_file "$stat.errors" \
        >/dev/null 2>&1 || true
    end=$(date +%s.%N)
    "$PY" - "$stat" "$start" "$end" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1]), delimiter=";"))
head, last = rows[0], rows[-1]
ok = int(last[head.index("SuccessfulCall(C)")])
failed = int(last[head.index("FailedCall(C)")])
rt = last[head.index("ResponseTime1(C)")]            # HH:MM:SS:mmmuuu
h, m, s, frac = rt.split(":")
ms = (int(h) * 3600 + int(m) * 60 + int(s)) * 1000 + int(frac) / 1000
elapsed = float(sys.argv[3]) - float(sys.argv[2])
if failed:
    # What went wrong, once per kind: SIPp's error file, its timestamps and numbers cut off.
    import re
    import shutil; shutil.copy(sys.argv[1] + ".errors", "/tmp/sipp-last-errors.log")
    kinds = {}
    try:
        for line in open(sys.argv[1] + ".errors", errors="replace"):
            kind = re.sub(r"[0-9]+", "N", line.split("\t")[-1].strip())[:140]
            if kind: kinds[kind] = kinds.get(kind, 0) + 1
    except OSError:
        pass
    top = "; ".join(f"{n} x {k}" for k, n in sorted(kinds.items(), key=lambda kv: -kv[1])[:2])
    print(f"{failed} failed ({top})", file=sys.stderr)
print(f"{ok / elapsed:.0f} {ms:.2f}")
PY
}

if [[ " $CASES " == *" rate "* ]]; then
# rate_case SOCKETS TITLE SCENARIO USERS: the three registrars, RUNS times, then the table.
rate_case() {
log "== REGISTER with digest, $2: $CALLS registrations, $CONCURRENCY at once, $USERS users, $RUNS runs"
local K_RATE=() K_LAT=() B_RATE=() B_LAT=() J_RATE=() J_LAT=() K_CPU=() B_CPU=() J_CPU=()
for run in $(seq 1 "$RUNS"); do
    kamailio -f "$WORK/kamailio.cfg" -P "$WORK/kamailio.pid" -DD -E > "$WORK/kamailio.log" 2>&1 & KPID=$!; PIDS+=($KPID)
    udp_ready "$K_REG" 2>/dev/null || true
    sleep 0.5
    before=$(cpu_seconds kamailio "$WORK")
    read -r rate lat < <(register_rate "$K_REG" "$1" "$3" "$4"); K_RATE+=("$rate"); K_LAT+=("$lat")
    K_CPU+=("$(per_registration "$before" "$(cpu_seconds kamailio "$WORK")")")
    kill "$KPID"; wait "$KPID" 2>/dev/null || true

    for variant in ballast ballast-journal; do
        rm -f "$WORK/registrations.jsonl"
        "$BALLAST" run -c "$WORK/$variant.yaml" > "$WORK/$variant.log" 2>&1 & BPID=$!; PIDS+=($BPID)
        udp_ready "$B_HQ"
        sleep 1.5   # both front ends seen up
        before=$(cpu_seconds ballast "$WORK")
        # PROFILE=VARIANT records that variant's process with perf while it is measured.
        if [ "${PROFILE:-}" = "$variant" ]; then
            perf record -q -g -p "$BPID" -o "/tmp/sip-profile-$variant-$3-$1.data" 2>/dev/null & PERF=$!
        fi
        # PERFSTAT=VARIANT counts that variant's task clock and context switches while measured.
        if [ "${PERFSTAT:-}" = "$variant" ]; then
            perf stat -e task-clock,context-switches,cpu-migrations -p "$BPID" -o "/tmp/sip-perfstat-$variant-$3-$1-$run.txt" 2>/dev/null & PSTAT=$!
        fi
        read -r rate lat < <(register_rate "$B_HQ" "$1" "$3" "$4")
        if [ "${PERFSTAT:-}" = "$variant" ]; then
            kill -INT "$PSTAT"; wait "$PSTAT" 2>/dev/null || true
            log "perf stat of $variant: /tmp/sip-perfstat-$variant-$3-$1-$run.txt"
        fi
        if [ "${PROFILE:-}" = "$variant" ]; then
            kill -INT "$PERF"; wait "$PERF" 2>/dev/null || true
            perf report -i "/tmp/sip-profile-$variant-$3-$1.data" --no-children --sort dso,sym --stdio -g none 2>/dev/null \
                | grep -v '^#' | grep -v '^$' | head -n 25 > "/tmp/sip-profile-$variant-$3-$1.txt" || true
            log "profile of $variant: /tmp/sip-profile-$variant-$3-$1.txt"
        fi
        cpu=$(per_registration "$before" "$(cpu_seconds ballast "$WORK")")
        if [ "$variant" = ballast ]; then B_RATE+=("$rate"); B_LAT+=("$lat"); B_CPU+=("$cpu"); else J_RATE+=("$rate"); J_LAT+=("$lat"); J_CPU+=("$cpu"); fi
        kill "$BPID"; wait "$BPID" 2>/dev/null || true
    done
    log "run $run ($2): kamailio ${K_RATE[-1]}/s ${K_LAT[-1]} ms ${K_CPU[-1]} us, ballast ${B_RATE[-1]}/s ${B_LAT[-1]} ms ${B_CPU[-1]} us, ballast+journal ${J_RATE[-1]}/s ${J_LAT[-1]} ms ${J_CPU[-1]} us"
done
KR=$(median "${K_RATE[@]}"); BR=$(median "${B_RATE[@]}"); JR=$(median "${J_RATE[@]}")
echo "$2, $(nproc) Kamailio workers:"
printf '%-34s %10s %12s %8s %14s\n' "registrar" "reg/s" "avg ms" "ratio" "cpu us/reg"
printf '%-34s %10s %12s %8s %14s\n' "kamailio (usrloc in memory)" "$KR" "$(median "${K_LAT[@]}")" "1.00" "$(median "${K_CPU[@]}")"
printf '%-34s %10s %12s %8s %14s\n' "ballast (bindings in memory)" "$BR" "$(median "${B_LAT[@]}")" "$(ratio "$BR" "$KR")" "$(median "${B_CPU[@]}")"
printf '%-34s %10s %12s %8s %14s\n' "ballast (bindings journalled)" "$JR" "$(median "${J_LAT[@]}")" "$(ratio "$JR" "$KR")" "$(median "${J_CPU[@]}")"
}
SOCKETS=${SOCKETS:-un u1 tn t1}
SCENARIOS=${SCENARIOS:-register refresh redirect}
for sockets in $SOCKETS; do
    case $sockets in
        un) where="UDP, a socket per registration (up to 1,000 source ports)" ;;
        u1) where="UDP, one source address and port" ;;
        tn) where="TCP, a connection per registration (up to 1,000)" ;;
        t1) where="TCP, one connection" ;;
    esac
    for scenario in $SCENARIOS; do
        case $scenario in
            register) rate_case "$sockets" "sign-in (401, 200), $where" register users ;;
            # A call here is a sign-in and four refreshes: five REGISTERs answered 200.
            refresh) rate_case "$sockets" "sign-in and 4 refreshes (401, 200, 4 x 200; rates are of calls), $where" refresh users ;;
            redirect) rate_case "$sockets" "user homed elsewhere (401, 301), $where" redirect away ;;
        esac
    done
done
fi
[[ " $CASES " == *" failover "* ]] || exit 0

# --- failover: Kamailio dispatcher pinging with OPTIONS -------------------------------------
K_DS=$(free_port)
printf '1 sip:127.0.0.1:%s 0 0\n2 sip:127.0.0.1:%s 0 0\n' "$FE_HQ" "$FE_DR" > "$WORK/dispatcher.list"
cat > "$WORK/dispatcher.cfg" <<CFG
#!KAMAILIO
debug=0
log_stderror=yes
fork=yes
children=2
auto_aliases=no
listen=udp:127.0.0.1:$K_DS
mpath="$MODULES/"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "dispatcher.so"
loadmodule "ctl.so"
modparam("ctl", "binrpc", "unix:$WORK/kamailio-ds.ctl")
modparam("tm", "fr_timer", 500)
modparam("dispatcher", "list_file", "$WORK/dispatcher.list")
modparam("dispatcher", "ds_ping_interval", 1)
modparam("dispatcher", "ds_probing_threshold", 2)
modparam("dispatcher", "ds_inactive_threshold", 2)
modparam("dispatcher", "ds_probing_mode", 1)
modparam("dispatcher", "ds_ping_from", "sip:dispatcher@bench.example")
request_route {
    if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
    if (is_method("REGISTER")) {
        if (!ds_select_dst("1", "0") && !ds_select_dst("2", "0")) { sl_send_reply("503", "No Registrar"); exit; }
        t_relay();
        exit;
    }
    sl_send_reply("405", "Method Not Allowed");
}
CFG
kamailio -f "$WORK/dispatcher.cfg" -P "$WORK/dispatcher.pid" -DD -E > "$WORK/dispatcher.log" 2>&1 & PIDS+=($!)
"$BALLAST" run -c "$WORK/ballast.yaml" > "$WORK/ballast-failover.log" 2>&1 & PIDS+=($!)
udp_ready "$K_DS"; udp_ready "$B_DR"

log "== failover: stop pool-hq's front end, time until the backup takes its users ($RUNS runs)"
declare -a K_FAIL B_FAIL
for run in $(seq 1 "$RUNS"); do
    # Settled: Kamailio relays to hq's front end; Ballast's backup redirects user0001 home.
    "$PY" bench/sip/probe.py --target "127.0.0.1:$K_DS" --user user0001 --expect "ballast-sample hq" --since 0 --timeout 40 >/dev/null
    "$PY" bench/sip/probe.py --target "127.0.0.1:$B_DR" --user user0001 --password pw-user0001 \
        --expect "SIP/2.0 301" --since 0 --timeout 40 >/dev/null
    kill "$(cat "$WORK/fe-hq.pid")"
    since=$(date +%s.%N)
    "$PY" bench/sip/probe.py --target "127.0.0.1:$B_DR" --user user0001 --password pw-user0001 \
        --expect "is-connected-to-primary" --since "$since" --timeout 30 > "$WORK/ballast-failover.txt" & BP=$!
    "$PY" bench/sip/probe.py --target "127.0.0.1:$K_DS" --user user0001 --expect "ballast-sample dr" \
        --since "$since" --timeout 30 > "$WORK/kamailio-failover.txt" & KP=$!
    wait "$BP" "$KP" || true
    B_FAIL+=("$(cat "$WORK/ballast-failover.txt")"); K_FAIL+=("$(cat "$WORK/kamailio-failover.txt")")
    log "run $run: kamailio dispatcher ${K_FAIL[-1]} s, ballast ${B_FAIL[-1]} s"
    start_fe "$FE_HQ" hq
done
printf '%-34s %10s\n' "failover to the backup" "seconds"
printf '%-34s %10s\n' "kamailio dispatcher (OPTIONS 1 s)" "$(median "${K_FAIL[@]}")"
printf '%-34s %10s\n' "ballast backup registrar" "$(median "${B_FAIL[@]}")"
