#!/usr/bin/env bash
# Runs Ballast's whole test suite: unit tests of the core and codecs, and tests that drive
# real clients through real Ballast listeners (in process and as the real binary) in front
# of real servers on 127.0.0.1. Installs the Debian packages the tests need first.
set -euo pipefail
cd "$(dirname "$0")/.."

# Build dependency: nghttp2's headers and library (libnghttp2-dev, with pkg-config) for the
# engine's HTTP/2 (its TLS uses the BoringSSL that swift-nio-ssl brings).
# Debian packages the tests use as clients and peers: curl (HTTP/1.1 and HTTP/2), dig
# (dnsutils), NSD as a DNS secondary, sipsak, Net::SIP (libnet-sip-perl), baresip, Twinkle
# (twinkle-console) and Linphone (linphone-cli) as SIP phones, nghttp2-client to read HTTP/2 frames, Prometheus's promtool,
# PostgreSQL as the multi-node store and Dovecot as a mailbox server (the tests start their
# own on loopback), and
# Chromium to look at the dashboard, and Python for the peer-process shim and the
# imaplib/poplib mail clients.
PACKAGES=(libnghttp2-dev pkg-config curl dnsutils nsd sipsak libnet-sip-perl baresip-core twinkle-console linphone-cli nghttp2-client postgresql dovecot-imapd chromium python3 prometheus)
missing=()
for package in "${PACKAGES[@]}"; do dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package"); done
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

# Relays hold two descriptors per connection; give the tests what the machine allows.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# The code as .swift-format lays it out (the toolchain's swift-format): a finding fails the run;
# `swift format format -i -r Sources Tests Package.swift` fixes most.
swift format lint --strict -r Sources Tests Package.swift

swift build --build-tests
if [ $# -gt 0 ]; then
    # A chosen part of the suite (say `scripts/test.sh --filter NodeTests`), one test at a time.
    swift test --no-parallel "$@"
    exit
fi
# Everything but the suites tagged .timed, four tests at a time: each test has its own ports,
# folders and processes, and PostgreSQL tests a database of their own on one shared server.
# Then the timed suites (they assert how quickly Ballast reacts), one test at a time, so that
# no other test blurs their times.
timed=$(python3 scripts/timed_suites.py)
started=$SECONDS
status=0
SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH=${BALLAST_TEST_WIDTH:-4} swift test --skip-build --skip "$timed" ||
    status=$?
echo "parallel pass: $((SECONDS - started)) s, exit status $status"
started=$SECONDS
swift test --skip-build --no-parallel --filter "$timed" || status=$?
echo "timed pass: $((SECONDS - started)) s"
exit "$status"
