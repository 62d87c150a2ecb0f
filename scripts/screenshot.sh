#!/usr/bin/env bash
# Makes docs/dashboard.png from the demo lab, so that the README's screenshot shows what the
# dashboard shows today: starts `ballast demo`, sends it web, IMAP, DNS and SIP traffic for a
# while, fails site hq over with a plan, lets the plots fill, then has headless Chromium take
# the picture. Needs chromium, curl, dig and sipsak (scripts/test.sh installs them).
# Usage: scripts/screenshot.sh [OUTPUT.png] (BASE_PORT=NNNN to move the lab's ports).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-docs/dashboard.png}"
base="${BASE_PORT:-46000}"
for tool in chromium curl dig sipsak; do
    command -v "$tool" >/dev/null || { echo "$tool is missing: apt-get install chromium curl dnsutils sipsak" >&2; exit 1; }
done
swift build --product ballast >/dev/null
ballast="$(swift build --show-bin-path)/ballast"
folder="$(mktemp -d /tmp/ballast-screenshot.XXXXXX)"
"$ballast" demo --base-port "$base" --folder "$folder" > "$folder/demo.log" 2>&1 &
demo=$!
cleanup() { kill -INT "$demo" 2>/dev/null || true; wait "$demo" 2>/dev/null || true; rm -rf "$folder"; }
trap cleanup EXIT

token=""
for _ in $(seq 1 60); do
    token="$(grep -o 'token=[a-f0-9]*' "$folder/demo.log" | head -1 | cut -d= -f2 || true)"
    [ -n "$token" ] && curl -sf -m 2 -H "Authorization: Bearer $token" "http://127.0.0.1:$base/api/status" >/dev/null && break
    sleep 0.5
done
[ -n "$token" ] || { echo "the demo did not come up; its log:" >&2; cat "$folder/demo.log" >&2; exit 1; }

# Traffic of every kind, for a bounded time: TIMES rounds of a fifth of a second or so each.
traffic() {
    local times="$1"
    for _ in $(seq 1 "$times"); do
        curl -sk -m 2 "https://127.0.0.1:$((base + 443))/" >/dev/null || true
        curl -sk -m 2 "https://127.0.0.1:$((base + 443))/" >/dev/null || true
        curl -s -m 2 -u alice:alice-demo "imap://127.0.0.1:$((base + 143))/" -X 'ID NIL' >/dev/null || true
        dig @127.0.0.1 -p $((base + 53)) +short +time=1 +tries=1 _sipinternaltls._tcp.contoso.com SRV >/dev/null || true
        sipsak -s "sip:127.0.0.1:$((base + 60))" >/dev/null 2>&1 || true
        sleep 0.1
    done
}
echo "sending traffic..."
traffic 60
echo "failing site hq over..."
"$ballast" plan failover --site hq -c "$folder/ballast.yaml" >/dev/null
"$ballast" apply -c "$folder/ballast.yaml" >/dev/null
traffic 40
# Traffic goes on while the picture is taken, so that the plots end where the lab is.
traffic 40 &
background=$!
mkdir -p "$(dirname "$out")"
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1400,1250 \
    --virtual-time-budget=4000 --screenshot="$out" "http://127.0.0.1:$base/?token=$token" >/dev/null 2>&1
wait "$background" 2>/dev/null || true
echo "wrote $out"
