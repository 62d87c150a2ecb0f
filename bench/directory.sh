#!/usr/bin/env bash
# Directory-aware IMAP proxying: logins per second through Ballast to Dovecot against the same
# Dovecot directly, and the time from `ballast db activate` until every new login lands on the
# new server. Two Dovecot instances (Debian's dovecot-imapd) play the two mailbox servers.
#
#   bench/directory.sh          RUNS=3 USERS=200 SECONDS_PER_RUN=10 CONCURRENCY=16 by default
#
# Ballast's directory is a SQLite file (poll 500 ms, the default) and, second line of the
# activation case, the same with poll-interval 100 ms. Every server binds 127.0.0.1; the
# script stops exactly the processes it started.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
USERS=${USERS:-200}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
CONCURRENCY=${CONCURRENCY:-16}

source bench/lib.sh
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
need dovecot dovecot-imapd
build_ballast

# --- the users: Dovecot's passwd-file (plain passwords, its own business) and Ballast's import
"$PY" - "$WORK" "$USERS" <<'PY'
import json, sys
work, count = sys.argv[1], int(sys.argv[2])
with open(f"{work}/passwd", "w") as f:
    for n in range(count):
        f.write(f"u{n}:{{PLAIN}}u{n}-demo\n")
users = [{"sip-uri": f"sip:u{n}@bench.example", "password": f"u{n}-demo", "mailbox-database": "DB01"} for n in range(count)]
json.dump({"realm": "bench.example", "databases": [{"name": "DB01", "copies": ["mbx1", "mbx2"], "active": "mbx1"}],
           "users": users}, open(f"{work}/users.json", "w"))
PY

# --- two Dovecot instances, mbx1 and mbx2
start_dovecot() {  # name port
    mkdir -p "$WORK/$1/run" "$WORK/$1/state" "$WORK/$1/mail"
    chown -R dovecot:dovecot "$WORK/$1/mail"
    cat > "$WORK/$1/dovecot.conf" <<CONF
instance_name = $1
base_dir = $WORK/$1/run
state_dir = $WORK/$1/state
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
log_path = $WORK/$1/dovecot.log
default_login_user = dovenull
default_internal_user = dovecot
imap_id_send = name "$1"
mail_location = maildir:$WORK/$1/mail/%u
first_valid_uid = 100
passdb {
  driver = passwd-file
  args = $WORK/passwd
}
userdb {
  driver = static
  args = uid=dovecot gid=dovecot home=$WORK/$1/mail/%u
}
# High-performance login mode: login processes serve many connections, as busy sites run it.
service imap-login {
  service_count = 0
  process_min_avail = 2
  inet_listener imap {
    address = 127.0.0.1
    port = $2
  }
  inet_listener imaps {
    port = 0
  }
}
service anvil {
  chroot =
}
CONF
    chmod o+rx "$WORK"
    dovecot -F -c "$WORK/$1/dovecot.conf" > "$WORK/$1.log" 2>&1 & PIDS+=($!)
}
MBX1=$(free_port); MBX2=$(free_port); IMAP=$(free_port)
start_dovecot mbx1 "$MBX1"
start_dovecot mbx2 "$MBX2"

write_config() {  # poll-interval
    cat > "$WORK/ballast.yaml" <<YAML
pools:
  mailbox:
    servers: [{name: mbx1, address: 127.0.0.1:$MBX1}, {name: mbx2, address: 127.0.0.1:$MBX2}]
store:
  location: $WORK/directory.db
  realm: bench.example
  poll-interval: $1
relays:
  imap: {listen: 127.0.0.1:$IMAP, protocol: imap, pool: mailbox}
YAML
}
write_config 500ms
"$BALLAST" users import -c "$WORK/ballast.yaml" "$WORK/users.json" >&2
"$BALLAST" run -c "$WORK/ballast.yaml" > "$WORK/ballast.log" 2>&1 & BALLAST_PID=$!; PIDS+=($BALLAST_PID)
wait_port "$MBX1"; wait_port "$MBX2"; wait_port "$IMAP"

log "== IMAP logins (connect, LOGIN, LOGOUT): $CONCURRENCY clients, $USERS users, ${SECONDS_PER_RUN}s, $RUNS runs"
declare -a D_RATE B_RATE D_P50 B_P50 B_ERR
for run in $(seq 1 "$RUNS"); do
    read -r rate p50 p99 errors < <("$PY" bench/directory/logins.py --port "$MBX1" --users "$USERS" \
        --concurrency "$CONCURRENCY" --seconds "$SECONDS_PER_RUN")
    D_RATE+=("$rate"); D_P50+=("$p50")
    read -r rate p50 p99 errors < <("$PY" bench/directory/logins.py --port "$IMAP" --users "$USERS" \
        --concurrency "$CONCURRENCY" --seconds "$SECONDS_PER_RUN")
    B_RATE+=("$rate"); B_P50+=("$p50"); B_ERR+=("$errors")
    log "run $run: direct ${D_RATE[-1]}/s, through ballast ${B_RATE[-1]}/s (errors $errors), ratio $(ratio "${B_RATE[-1]}" "${D_RATE[-1]}")"
done
DR=$(median "${D_RATE[@]}"); BR=$(median "${B_RATE[@]}")
printf '%-34s %10s %12s %8s\n' "imap logins" "logins/s" "median ms" "ratio"
printf '%-34s %10s %12s %8s\n' "dovecot direct" "$DR" "$(median "${D_P50[@]}")" "1.00"
printf '%-34s %10s %12s %8s\n' "ballast -> dovecot (directory)" "$BR" "$(median "${B_P50[@]}")" "$(ratio "$BR" "$DR")"

log "== db activate: time until every new login lands on the new server ($RUNS runs each way)"
ACTIVE=mbx1
activation_runs() {  # label
    local times=() target
    for run in $(seq 1 "$RUNS"); do
        target=$([ "$ACTIVE" = mbx1 ] && echo mbx2 || echo mbx1)
        ACTIVE=$target
        times+=("$("$PY" bench/directory/activation.py --port "$IMAP" --expect "$target" -- \
            "$BALLAST" db activate -c "$WORK/ballast.yaml" DB01 --on "$target")")
        log "run $run ($1): ${times[-1]} s to $target"
    done
    printf '%-34s %10s\n' "$1" "$(median "${times[@]}")"
}
printf '%-34s %10s\n' "db activate -> all logins moved" "seconds"
activation_runs "sqlite, poll 500ms"
kill "$BALLAST_PID"; wait "$BALLAST_PID" 2>/dev/null || true
PIDS=("${PIDS[@]/$BALLAST_PID}")
write_config 100ms
"$BALLAST" run -c "$WORK/ballast.yaml" > "$WORK/ballast-100.log" 2>&1 & BALLAST_PID=$!; PIDS+=($BALLAST_PID)
wait_port "$IMAP"
activation_runs "sqlite, poll 100ms"
