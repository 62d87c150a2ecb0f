# Shared by the bench scripts: tools, processes, ports and statistics. Source it after cd-ing
# to the repository; it sets ROOT, PY, WORK and PIDS, and stops every PID in PIDS on exit.

log() { printf '%s\n' "$*" >&2; }

# need "command package" ...: installs the Debian packages of the commands that are missing.
need() {
    local packages=()
    while [ $# -gt 1 ]; do
        command -v "$1" >/dev/null || packages+=("$2")
        shift 2
    done
    [ ${#packages[@]} -eq 0 ] && return 0
    log "installing: ${packages[*]}"
    local sudo
    sudo=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${packages[@]}" >/dev/null
}

# build_ballast: the release binary, in $BALLAST.
build_ballast() {
    dpkg -s libnghttp2-dev >/dev/null 2>&1 || need /usr/include/nghttp2/nghttp2.h libnghttp2-dev
    log "building ballast (release)"
    swift build -c release --product ballast >/dev/null
    BALLAST="$ROOT/.build/release/ballast"
}

# build_ballast_openssl: the release binary with the engine's TLS over Debian's OpenSSL 3
# (libssl-dev) instead of swift-nio-ssl's BoringSSL, in $BALLAST_OPENSSL; built in a folder of
# its own (.build-openssl, several minutes the first time) so that the shipped build stays.
build_ballast_openssl() {
    dpkg -s libssl-dev >/dev/null 2>&1 || need /usr/include/openssl/ssl.h libssl-dev
    log "building ballast over OpenSSL 3 (release, .build-openssl)"
    BALLAST_TLS_LIBRARY=openssl swift build -c release --product ballast --scratch-path "$ROOT/.build-openssl" >/dev/null
    BALLAST_OPENSSL="$ROOT/.build-openssl/release/ballast"
}

ROOT=$(pwd)
need python3 python3
PY=$(python3 -c 'import sys; print(sys.executable)')  # the interpreter itself, so that PIDs are real
WORK=$(mktemp -d /tmp/ballast-bench.XXXXXX)
# nginx started as root serves files as its worker user (www-data): without this it answers
# every request with 403 from a folder only root may enter, and the bodies measured are not
# the ones named.
chmod 755 "$WORK"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do [ -n "$pid" ] && { kill "$pid" 2>/dev/null || true; }; done
    for pid in "${PIDS[@]}"; do [ -n "$pid" ] && { wait "$pid" 2>/dev/null || true; }; done
    rm -rf "$WORK"
}
trap cleanup EXIT

# descendants PID...: the PIDs given and all their children, recursively.
descendants() {
    local pid
    for pid in "$@"; do
        [ -n "$pid" ] || continue
        echo "$pid"
        # shellcheck disable=SC2046
        descendants $(pgrep -P "$pid")
    done
}

# cpu_seconds NAME [TEXT]: CPU seconds used so far by the processes this run started (PIDS and
# their children) whose name begins with NAME and, when TEXT is given, whose command line holds
# it. Found by parentage, since NSD rewrites its command line.
cpu_seconds() {
    local tick total=0 pid
    tick=$(getconf CLK_TCK)
    for pid in $(descendants "${PIDS[@]}"); do
        case "$(cat "/proc/$pid/comm" 2>/dev/null)" in "$1"*) ;; *) continue ;; esac
        [ -z "${2:-}" ] || tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$2" || continue
        # Fields after the name, which may hold spaces ("nsd: server 1"): utime and stime are the 12th and 13th.
        total=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | awk -v t="$total" -v tick="$tick" '{print t + ($12 + $13) / tick}' || echo "$total")
    done
    echo "$total"
}
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

# wait_port PORT: until something listens on 127.0.0.1:PORT; fails when a started peer died.
wait_port() {
    for pid in "${PIDS[@]}"; do
        [ -n "$pid" ] || continue
        kill -0 "$pid" 2>/dev/null || { log "a peer exited at start: $(tr '\0' ' ' </proc/$pid/cmdline 2>/dev/null || echo "pid $pid")"; for f in "$WORK"/*.log; do log "== $f"; tail -5 "$f" >&2; done; exit 1; }
    done
    for _ in $(seq 1 200); do
        if "$PY" -c "import socket,sys; s=socket.socket(); s.settimeout(0.2); sys.exit(s.connect_ex(('127.0.0.1',$1)))" 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    log "nothing listens on 127.0.0.1:$1"; exit 1
}
