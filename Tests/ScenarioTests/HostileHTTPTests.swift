import BallastTestSupport
import Foundation
import Testing

/// The HTTP and HTTPS relays (HTTP/1.1 and h2) and the TCP relay taking PROXY headers, attacked
/// as an outsider would for several rounds: after each, the node is alive, a good client is
/// served, no socket is left in CLOSE-WAIT, no connection stays counted open, and resident memory
/// does not grow round by round.
@Suite(.serialized) struct HostileHTTPTests {
    static let httpSeeds = [
        "GET / HTTP/1.1\r\nHost: lab\r\n\r\n",
        "POST /upload HTTP/1.1\r\nHost: lab\r\nContent-Length: 5\r\n\r\nhello",
        "POST / HTTP/1.1\r\nHost: lab\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nTrailer: x\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: lab\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: lab\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        "GET / HTTP/1.1\r\nHost: lab\r\nX-Folded: a\r\n b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: lab\r\nCookie: SRV=abc\r\n\r\nGET /2 HTTP/1.1\r\nHost: lab\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: lab\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
        "GET / HTTP/1.0\r\n\r\n",
    ]

    /// Floods, truncations, hostile numbers, damage, abandoned, half-open and slow clients.
    func round(_ attack: inout Attack, lab: HostileLab) async throws -> Int {
        let before = attack.tried
        attack.connectAndClose(500)
        attack.truncations()
        attack.mutations(300)
        attack.abandon(60)
        await attack.slowSenders(10, pause: .milliseconds(200), for: .seconds(1))
        let open = attack.heldLeftOpen(within: .seconds(10))
        let kept = attack.stillOpen(in: lab.probe)
        #expect(kept.isEmpty, "connections the node keeps: \(kept.prefix(8))")
        #expect(
            open.isEmpty,
            "held clients stayed open past timeouts.request: \(open.prefix(5)); log: \(lab.ballast.log.suffix(1500))")
        attack.release()
        return attack.tried - before
    }

    func check(_ lab: HostileLab, relay: String, resident: [Int], good: () throws -> Bool) throws {
        #expect(lab.ballast.isRunning, "\(lab.ballast.log.suffix(3000))")
        #expect(try good(), "a good client was not served after the attack")
        #expect(lab.probe.lingeringCloseWaitSockets() == 0, "sockets left in CLOSE-WAIT: \(lab.probe.tcpStates)")
        let metrics = (try? lab.metrics()) ?? ""
        #expect(
            try lab.metric("ballast_relay_connections_active", ["relay": relay]) == 0,
            "\(metrics.split(separator: "\n").filter { $0.contains("active") || $0.contains("bad_input") })\n\(lab.ballast.log.split(separator: "\n").filter { $0.contains("limit") || $0.contains("summar") || $0.contains("server") }.suffix(20))"
        )
        let growth = resident.last! - resident[2]
        #expect(growth < 3 * 1024, "resident memory by round: \(resident) KiB")
    }

    @Test func httpRelay() async throws {
        try await HostileLab.with { lab in
            var attack = Attack(port: lab.ports["http"]!, seeds: Self.httpSeeds)
            let resident = try await attackInRounds(
                4, name: "http", probe: lab.probe, settle: { await lab.settles(relay: "http") }
            ) {
                _ in try await round(&attack, lab: lab)
            }
            try check(lab, relay: "http", resident: resident) { try lab.httpGet() != nil }
            #expect(try lab.metric("ballast_bad_input_total", ["listener": "http"]) > 0)
        }
    }

    /// HTTP/2 by prior knowledge (h2c): the preface, SETTINGS, then a request whose HPACK
    /// block names a literal path, and the preface followed by a frame of the largest length.
    static let h2cSeeds: [[UInt8]] = {
        let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
        let settings: [UInt8] = [0, 0, 0, 4, 0, 0, 0, 0, 0]
        // :method GET, :scheme http, :path /, :authority lab (indexed and literal fields).
        let block: [UInt8] = [0x82, 0x86, 0x84, 0x41, 0x03] + Array("lab".utf8)
        let headers: [UInt8] = [0, 0, UInt8(block.count), 1, 5, 0, 0, 0, 1] + block
        return [preface + settings + headers, preface + [0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0]]
    }()

    @Test func httpRelayOnTheEngine() async throws {
        try await HostileLab.with { lab in
            var attack = Attack(
                port: lab.ports["http-engine"]!, bytes: Self.httpSeeds.map { Array($0.utf8) } + Self.h2cSeeds)
            let resident = try await attackInRounds(
                4, name: "http-engine", probe: lab.probe, settle: { await lab.settles(relay: "http-engine") }
            ) { _ in try await round(&attack, lab: lab) }
            try check(lab, relay: "http-engine", resident: resident) { try lab.httpGet(relay: "http-engine") != nil }
            let h2c = try BallastProcess.run(
                executable: URL(fileURLWithPath: "/usr/bin/curl"),
                [
                    "-sS", "--max-time", "5", "--http2-prior-knowledge", "-o", "/dev/null", "-w",
                    "%{http_code} %{http_version}",
                    "http://127.0.0.1:\(lab.ports["http-engine"]!)/",
                ])
            #expect(h2c.stdout == "200 2", "\(h2c)")
            #expect(try lab.metric("ballast_bad_input_total", ["listener": "http-engine"]) > 0)
        }
    }

    /// TLS on the engine: damaged, cut and abandoned handshakes, then requests, are closed
    /// within timeouts.handshake, counted, and leave memory flat; so are the HTTP/2 clients of
    /// `httpsRelayWithHTTP2` (cut prefaces, garbage frames, broken HPACK, idle connections).
    @Test func httpsRelayOnTheEngine() async throws {
        try await HostileLab.with { lab in
            let port = lab.ports["https-engine"]!
            var handshake = Attack(
                port: port, bytes: [try clientHello(alpn: ["h2", "http/1.1"]), try clientHello(alpn: [])])
            let resident = try await attackInRounds(
                4, name: "https-engine", probe: lab.probe, settle: { await lab.settles(relay: "https-engine") }
            ) { _ in
                let before = handshake.tried
                handshake.connectAndClose(300)
                handshake.truncations()
                handshake.mutations(200)
                handshake.abandon(40)
                let h2 = try Self.http2Attack(port: port, caFile: lab.caFile)
                let open = handshake.heldLeftOpen(within: .seconds(10))
                #expect(open.isEmpty, "clients stalled in their handshake stayed open: \(open.prefix(5))")
                handshake.release()
                return handshake.tried - before + h2
            }
            try check(lab, relay: "https-engine", resident: resident) {
                try lab.curlHTTPS(http2: true, relay: "https-engine")
                    && lab.curlHTTPS(http2: false, relay: "https-engine")
            }
            #expect(try lab.metric("ballast_tls_handshake_failures_total", ["relay": "https-engine"]) > 0)
            #expect(try lab.metric("ballast_bad_input_total", ["listener": "https-engine"]) > 0)

            // An HTTP/2 connection idle past its keep-alive timeout gets GOAWAY and is closed.
            let idle = try BallastProcess.run(
                executable: URL(fileURLWithPath: "/usr/bin/python3"),
                ["-c", Self.h2Script, "\(port)", lab.caFile, "idle"],
                timeout: .seconds(20))
            #expect(idle.stdout.contains("closed after"), "\(idle.stdout) \(idle.stderr)")
        }
    }

    @Test func tcpRelayTakingProxyHeaders() async throws {
        let seeds = [
            "PROXY TCP4 192.0.2.7 127.0.0.1 51000 443\r\nGET / HTTP/1.1\r\nHost: lab\r\n\r\n",
            "PROXY TCP6 2001:db8::1 ::1 51000 443\r\n", "PROXY UNKNOWN\r\n",
        ]
        var binary = [UInt8]([
            0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, 0x21, 0x11, 0x00, 0x0C,
        ])
        binary += [192, 0, 2, 7, 127, 0, 0, 1, 0xC7, 0x38, 0x01, 0xBB]
        try await HostileLab.with { lab in
            var attack = Attack(port: lab.ports["tcp"]!, bytes: seeds.map { Array($0.utf8) } + [binary])
            let resident = try await attackInRounds(
                4, name: "tcp+proxy", probe: lab.probe, settle: { await lab.settles(relay: "tcp") }
            ) {
                _ in
                let before = attack.tried
                attack.connectAndClose(500)
                attack.truncations()
                attack.mutations(300)
                attack.abandon(30)
                attack.release()
                return attack.tried - before
            }
            try check(lab, relay: "tcp", resident: resident) { try lab.proxiedGet() }
        }
    }

    /// HTTPS: the handshake (ClientHellos cut, damaged, stalled; timeouts.handshake is 1 s), then
    /// HTTP/2 from clients that send part of the preface, close before SETTINGS, send garbage
    /// frames or go idle (timeouts.idle is 5 s), and HTTP/1.1 inside TLS.
    @Test func httpsRelayWithHTTP2() async throws {
        try await HostileLab.with { lab in
            let port = lab.ports["https"]!
            var handshake = Attack(port: port, bytes: [try clientHello(alpn: ["h2", "http/1.1"])])
            let resident = try await attackInRounds(
                4, name: "https+h2", probe: lab.probe, settle: { await lab.settles(relay: "https") }
            ) {
                _ in
                let before = handshake.tried
                handshake.connectAndClose(300)
                handshake.truncations()
                handshake.mutations(150)
                handshake.abandon(40)
                let h2 = try Self.http2Attack(port: port, caFile: lab.caFile)
                let open = handshake.heldLeftOpen(within: .seconds(10))
                #expect(open.isEmpty, "clients stalled in their handshake stayed open: \(open.prefix(5))")
                handshake.release()
                return handshake.tried - before + h2
            }
            try check(lab, relay: "https", resident: resident) {
                try lab.curlHTTPS(http2: true) && lab.curlHTTPS(http2: false)
            }

            // An HTTP/2 connection idle past timeouts.idle is closed.
            let idle = try BallastProcess.run(
                executable: URL(fileURLWithPath: "/usr/bin/python3"),
                ["-c", Self.h2Script, "\(port)", lab.caFile, "idle"],
                timeout: .seconds(20))
            #expect(idle.stdout.contains("closed after"), "\(idle.stdout) \(idle.stderr)")
        }
    }

    /// Runs the h2 attack script once; how many connections it made.
    static func http2Attack(port: Int, caFile: String) throws -> Int {
        let result = try BallastProcess.run(
            executable: URL(fileURLWithPath: "/usr/bin/python3"), ["-c", h2Script, "\(port)", caFile, "attack"],
            timeout: .seconds(60))
        return Int(result.stdout.split(separator: " ").last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 0
    }

    /// HTTP/2 clients over TLS with ALPN h2, written with Python's ssl: part of the preface, the
    /// preface and a closed socket, a preface and garbage, a SETTINGS frame announcing a huge
    /// length, a HEADERS frame with a broken HPACK block; "idle" opens one good connection and
    /// reports when the node closes it.
    static let h2Script = #"""
        import socket, ssl, sys, time
        port, cafile, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
        context = ssl.create_default_context(cafile=cafile); context.check_hostname = False
        context.set_alpn_protocols(["h2"])
        preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
        settings = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
        def connect():
            raw = socket.create_connection(("127.0.0.1", port), timeout=5)
            return context.wrap_socket(raw, server_hostname="lab.contoso.com")
        if mode == "idle":
            tls = connect(); tls.sendall(preface + settings)
            start = time.time()
            try:
                while time.time() - start < 15:
                    if not tls.recv(4096): break
            except Exception:
                pass
            print("closed after %.1f s" % (time.time() - start))
            sys.exit(0)
        inputs = [preface[:n] for n in range(1, len(preface))]
        inputs += [preface, preface + settings[:5], preface + b"\xff" * 64,
                   preface + b"\xff\xff\xff\x04\x00\x00\x00\x00\x00",
                   preface + settings + b"\x00\x00\x05\x01\x05\x00\x00\x00\x01\xff\xff\xff\xff\xff",
                   preface + settings + b"\x00\x00\x04\x08\x00\x00\x00\x00\x00\x7f\xff\xff\xff" * 3]
        held, made = [], 0
        for index, data in enumerate(inputs * 3):
            try:
                tls = connect(); made += 1
                tls.sendall(data)
                if index % 3 == 0:
                    held.append(tls)
                elif index % 3 == 1:
                    tls.close()
                else:
                    tls.shutdown(socket.SHUT_WR); held.append(tls)
            except Exception:
                pass
        time.sleep(1.5)
        for tls in held:
            try: tls.close()
            except Exception: pass
        print("connections", made)
        """#
}
