#!/usr/bin/env bash
# Wall-clock time of a site failover plan and of its failback for USERS users (20,000 by
# default), with the release binary and a SQLite store: import, backup, `ballast plan failover`,
# `ballast apply`, `ballast plan failback`, `ballast apply`. The anchors: 30 to 60 minutes by hand
# for a Lync/Skype pool disaster recovery, 15 to 20 minutes for a Skype for Business pool failover.
#
#   bench/plan.sh            RUNS=3 USERS=20000 by default
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
USERS=${USERS:-20000}

source bench/lib.sh
build_ballast

declare -a FAILOVER FAILBACK
for run in $(seq 1 "$RUNS"); do
    dir="$WORK/run$run"; mkdir -p "$dir"
    cat > "$dir/ballast.yaml" <<YAML
sites: {hq: {hold-down: 0s}, dr: {hold-down: 0s}}
pools:
  pool-hq: {site: hq, backup-pool: pool-dr, servers: [{name: fe-hq, address: 127.0.0.1:1}]}
  pool-dr: {site: dr, backup-pool: pool-hq, servers: [{name: fe-dr, address: 127.0.0.1:2}]}
  mailbox-hq: {site: hq, servers: [{name: EX1, address: 127.0.0.1:3}]}
  mailbox-dr: {site: dr, servers: [{name: EX3, address: 127.0.0.1:4}]}
store: {location: $dir/directory.db, realm: bench.example}
backup: {folder: $dir/backups}
YAML
    "$PY" - "$dir/users.json" "$USERS" <<'PY'
import hashlib, json, sys
path, count = sys.argv[1], int(sys.argv[2])
users = [{"sip-uri": f"sip:u{n}@bench.example",
          "ha1-sha256": hashlib.sha256(f"u{n}:bench.example:pw".encode()).hexdigest(),
          "home-pool": "pool-hq", "mailbox-database": f"DB{n % 20:02d}",
          "contacts": [f"sip:u{(n + k) % count}@bench.example" for k in range(1, 6)]} for n in range(count)]
databases = [{"name": f"DB{d:02d}", "copies": ["EX1", "EX3"], "active": "EX1"} for d in range(20)]
json.dump({"realm": "bench.example", "users": users, "databases": databases}, open(path, "w"))
PY
    "$BALLAST" users import -c "$dir/ballast.yaml" "$dir/users.json" >/dev/null 2>&1
    "$BALLAST" backup -c "$dir/ballast.yaml" >/dev/null
    start=$(date +%s.%N)
    "$BALLAST" plan failover --site hq -c "$dir/ballast.yaml" >/dev/null
    "$BALLAST" apply -c "$dir/ballast.yaml" > "$dir/failover.log"
    FAILOVER+=("$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')")
    start=$(date +%s.%N)
    "$BALLAST" plan failback --site hq -c "$dir/ballast.yaml" >/dev/null
    "$BALLAST" apply -c "$dir/ballast.yaml" > "$dir/failback.log"
    FAILBACK+=("$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')")
    log "run $run: failover ${FAILOVER[-1]} s, failback ${FAILBACK[-1]} s ($USERS users, 20 databases)"
done
printf '%-40s %10s\n' "plan for $USERS users (plan + apply)" "seconds"
printf '%-40s %10s\n' "failover of site hq" "$(median "${FAILOVER[@]}")"
printf '%-40s %10s\n' "failback of site hq" "$(median "${FAILBACK[@]}")"
