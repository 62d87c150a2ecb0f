import BallastCore
import BallastNode
import BallastTestSupport
import Foundation
import NIOHTTP1
import Testing

/// The HTTP relay over real sockets: curl and raw sockets against a relay in this process,
/// in front of real HTTP servers on 127.0.0.1.
@Suite(.serialized) struct HTTPProxyTests {
    /// The data planes the tests run against: Ballast's engine, since it replaced the SwiftNIO relay.
    static let engines = ["ballast"]

    @Test(arguments: Self.engines) func eachRequestOnOneKeepAliveConnectionIsBalancedOnItsOwn(
        engine: String
    ) async throws {
        let lab = try await HTTPLab(engine: engine, relay: "    mode: round-robin")
        try await using(lab) { lab throws in
            let urls = Array(repeating: "\(lab.url)/", count: 6)
            let output = try lab.curl(["-w", " %{num_connects}\n"] + urls)
            let lines = output.stdout.split(separator: "\n").map { $0.split(separator: " ") }
            #expect(lines.count == 6, "\(output)")
            #expect(Set(lines.map { String($0[0]) }) == ["a", "b", "c"])
            // One client connection for all six requests.
            #expect(lines.map { Int($0[1]) ?? -1 }.reduce(0, +) == 1)
            // Servers' connections are kept alive and reused across requests.
            let again = try lab.curl(urls)
            #expect(again.stdout.count == 6)
            #expect(lab.backends.map(\.acceptedConnections).reduce(0, +) == 3)
        }
    }

    @Test(arguments: Self.engines) func cookiePinsAClientAndHidesTheServer(engine: String) async throws {
        let lab = try await HTTPLab(
            engine: engine,
            relay: """
                    mode: round-robin
                    persistence: {type: cookie, name: LB, key: a-secret-of-enough-length, secure: true, same-site: Strict}
                """)
        try await using(lab) { lab throws in
            let jar = lab.directory.appendingPathComponent("jar").path
            let first = try lab.curl(["-D", "-", "-c", jar, "\(lab.url)/"])
            let setCookie = try #require(
                first.stdout.split(separator: "\r\n").first { $0.lowercased().hasPrefix("set-cookie:") })
            #expect(setCookie.contains("LB="))
            #expect(
                setCookie.contains("HttpOnly") && setCookie.contains("Secure") && setCookie.contains("SameSite=Strict"))
            for backend in lab.backends {
                #expect(!setCookie.contains(backend.name + ";") && !setCookie.contains("\(backend.port)"))
            }
            let pinned = try #require(first.stdout.split(separator: "\r\n").last.map(String.init))
            // curl keeps Secure cookies for http://127.0.0.1 too (a "secure context"), so -b jar works.
            for _ in 0..<6 {
                #expect(try lab.curl(["-b", jar, "\(lab.url)/"]).stdout == pinned)
            }
            // The server never sees Ballast's cookie.
            #expect(
                lab.backends.flatMap(\.requests).allSatisfy {
                    !($0.headers.first(name: "cookie") ?? "").contains("LB=")
                })
        }
    }

    @Test(arguments: Self.engines) func aForgedCookieIsIgnoredAndReplaced(engine: String) async throws {
        let lab = try await HTTPLab(
            engine: engine, relay: "    persistence: {type: cookie, key: a-secret-of-enough-length}")
        try await using(lab) { lab throws in
            let output = try lab.curl([
                "-D", "-", "-H", "Cookie: BALLAST=AAAAAAAAAAAAAAAAAAAAAAAA; other=1", "\(lab.url)/",
            ])
            #expect(output.stdout.hasPrefix("HTTP/1.1 200"))
            #expect(output.stdout.lowercased().contains("set-cookie: ballast="))
            #expect(lab.backends.flatMap(\.requests).last?.headers.first(name: "cookie") == "other=1")
        }
    }

    @Test(arguments: Self.engines) func aPinnedClientMovesWhenItsServerDies(engine: String) async throws {
        let lab = try await HTTPLab(
            engine: engine, backends: ["a", "b"],
            relay: "    persistence: {type: cookie, key: a-secret-of-enough-length}")
        try await using(lab) { lab throws in
            let jar = lab.directory.appendingPathComponent("jar").path
            let pinned = try lab.curl(["-c", jar, "\(lab.url)/"]).stdout
            await lab.backend(pinned).stop()
            let moved = try lab.curl(["-D", "-", "-b", jar, "-c", jar, "\(lab.url)/"])
            #expect(moved.stdout.hasPrefix("HTTP/1.1 200"), "\(moved)")
            #expect(moved.stdout.lowercased().contains("set-cookie:"))
            let other = pinned == "a" ? "b" : "a"
            #expect(moved.stdout.hasSuffix(other))
            #expect(try lab.curl(["-b", jar, "\(lab.url)/"]).stdout == other)
        }
    }

    @Test(arguments: Self.engines) func sourceAffinityPinsByAddress(engine: String) async throws {
        let lab = try await HTTPLab(engine: engine, relay: "    persistence: {type: source, timeout: 10m}")
        try await using(lab) { lab throws in
            let answers = try (0..<6).map { _ in try lab.curl(["\(lab.url)/"]).stdout }
            #expect(Set(answers).count == 1)
        }
    }

    @Test(arguments: Self.engines) func forwardingHeadersAreAddedOrReplaced(engine: String) async throws {
        let lab = try await HTTPLab(
            engine: engine,
            backends: ["a"],
            relay: "    forwarded: {x-forwarded-for: add, x-forwarded-proto: replace, forwarded: replace}")
        try await using(lab) { lab throws in
            _ = try lab.curl([
                "-H", "X-Forwarded-For: 192.0.2.7", "-H", "X-Forwarded-Proto: https", "-H", "Forwarded: for=192.0.2.9",
                "-H", "Connection: keep-alive, X-Private", "-H", "X-Private: secret", "\(lab.url)/",
            ])
            let head = try #require(lab.backend("a").requests.last)
            #expect(head.headers.first(name: "x-forwarded-for") == "192.0.2.7, 127.0.0.1")
            #expect(head.headers.first(name: "x-forwarded-proto") == "http")
            #expect(head.headers.first(name: "forwarded")?.hasPrefix("for=127.0.0.1;by=127.0.0.1;proto=http") == true)
            #expect(!head.headers.contains(name: "x-private"))
        }
    }

    @Test(arguments: Self.engines) func httpsTerminationChoosesTheCertificateBySNIAndSpeaksHTTP2(
        engine: String
    ) async throws {
        let second = try TestCertificates(names: ["two.test"], loopbackSAN: false)
        let lab = try await HTTPLab(
            engine: engine, backends: ["a"], protocol: "https",
            relay: """
                    certificates:
                      - {certificate: server.pem, key: server.key}
                      - {certificate: two.pem, key: two.key}
                """,
            files: ["two.pem": second.certificatePEM, "two.key": second.keyPEM])
        try await using(lab) { lab throws in
            // Both test CAs share a name, so each client trusts only the CA of the certificate it expects.
            let bundle = lab.caFile
            let secondCA = lab.directory.appendingPathComponent("second-ca.pem").path
            try second.caPEM.write(toFile: secondCA, atomically: true, encoding: .utf8)
            let https = "https://one.test:\(lab.port)/"
            let resolve = [
                "--resolve", "one.test:\(lab.port):127.0.0.1", "--resolve", "two.test:\(lab.port):127.0.0.1",
            ]
            let one = try lab.curl(resolve + ["--cacert", bundle, "-w", " %{http_version}", "--http1.1", https])
            #expect(one.stdout == "a 1.1", "\(one)")
            let h2 = try lab.curl(resolve + ["--cacert", bundle, "-w", " %{http_version}", "--http2", https])
            #expect(h2.stdout == "a 2", "\(h2)")
            let viaTwo = try lab.curl(resolve + ["--cacert", secondCA, "https://two.test:\(lab.port)/"])
            #expect(viaTwo.stdout == "a", "\(viaTwo)")
            // TLS 1.2 is accepted as well as 1.3.
            let tls12 = try lab.curl(resolve + ["--cacert", bundle, "--tls-max", "1.2", https])
            #expect(tls12.stdout == "a", "\(tls12)")
            // The forwarding headers say the client spoke https.
            let forwarded = try #require(lab.backend("a").requests.last)
            #expect(forwarded.headers.first(name: "x-forwarded-proto") == "https")
        }
    }

    /// A server that answers a 5 MB upload before reading it: over HTTP/2 the response comes,
    /// the stream ends with RST_STREAM(NO_ERROR) (RFC 9113 8.1), and the next request on the same
    /// connection is served, as over HTTP/1.1.
    @Test(arguments: Self.engines) func anEarlyAnswerToAnHTTP2UploadEndsItsStreamWithoutError(
        engine: String
    ) async throws {
        let lab = try await HTTPLab(
            engine: engine, backends: ["a"], protocol: "https",
            relay: "    certificates: [{certificate: server.pem, key: server.key}]")
        try await using(lab) { lab throws in
            let upload = lab.directory.appendingPathComponent("upload.bin")
            try Data(repeating: 0x61, count: 5_000_000).write(to: upload)
            let base = "https://127.0.0.1:\(lab.port)"
            for version in ["--http2", "--http1.1"] {
                let started = ContinuousClock.now
                let result = try lab.curl(
                    [
                        "--cacert", lab.caFile, version, "-sS", "-o", "/dev/null", "-w",
                        "%{http_code} %{http_version}\n",
                        "-X", "POST", "--data-binary", "@\(upload.path)", "\(base)/early", "--next", "--cacert",
                        lab.caFile,
                        version,
                        "-s", "-w", " %{http_code} %{num_connects}", "\(base)/",
                    ], timeout: .seconds(20))
                // Over HTTP/2 the same connection carries the next request; over HTTP/1.1 it may or may not.
                #expect(result.status == 0, "\(version): curl exited \(result.status): \(result.stderr)")
                let lines = result.stdout.split(separator: "\n")
                #expect(
                    lines.first == (version == "--http2" ? "413 2" : "413 1.1"),
                    "\(version): \(result.stdout) \(result.stderr)")
                #expect(
                    result.stdout.hasSuffix(version == "--http2" ? "a 200 0" : "") && result.stdout.contains("a 200"),
                    "\(version): \(result.stdout) \(result.stderr)")
                #expect(ContinuousClock.now - started < .seconds(5), "\(version): the upload stalled")
            }
            // The frames themselves, as nghttp (nghttp2's client) sees them: the response, then
            // RST_STREAM with NO_ERROR, not CANCEL.
            let nghttp = try BallastProcess.run(
                executable: URL(fileURLWithPath: "/usr/bin/nghttp"), ["-v", "-n", "-d", upload.path, "\(base)/early"],
                timeout: .seconds(20))
            #expect(nghttp.stdout.contains(":status: 413"), "\(nghttp.stdout.suffix(2000))")
            #expect(
                nghttp.stdout.contains("recv RST_STREAM frame")
                    && nghttp.stdout.contains("(error_code=NO_ERROR(0x00))"),
                "\(nghttp.stdout.suffix(2000))")
        }
    }

    @Test(arguments: Self.engines) func reencryptionVerifiesTheServerCertificate(engine: String) async throws {
        let lab = try await HTTPLab(
            engine: engine, backends: ["a"], relay: "    server-tls: {ca-file: ca.pem}", tlsBackends: true)
        try await using(lab) { lab throws in
            #expect(try lab.curl(["\(lab.url)/"]).stdout == "a")

            let stranger = try TestCertificates()
            let wrongCA = lab.directory.appendingPathComponent("wrong-ca.pem").path
            try stranger.caPEM.write(toFile: wrongCA, atomically: true, encoding: .utf8)
            let refused = try await HTTPLab(
                engine: engine, backends: ["a"], relay: "    server-tls: {ca-file: \(wrongCA)}", tlsBackends: true)
            try await using(refused) { refused throws in
                let answer = try refused.curl(["-o", "/dev/null", "-w", "%{http_code}", "\(refused.url)/"])
                #expect(answer.stdout == "502", "\(answer)")
            }
        }
    }

    @Test(arguments: Self.engines) func bodiesOf100MiBStreamBothWaysWithFlatMemory(engine: String) async throws {
        let lab = try await HTTPLab(engine: engine, backends: ["a"])
        try await using(lab) { lab throws in
            let size = 100 * 1024 * 1024
            let before = residentKiB()
            let down = try lab.curl([
                "-o", "/dev/null", "-w", "%{size_download} %{http_code}", "\(lab.url)/download/\(size)",
            ])
            #expect(down.stdout == "\(size) 200", "\(down)")
            let file = lab.directory.appendingPathComponent("upload").path
            #expect(FileManager.default.createFile(atPath: file, contents: nil))
            let handle = try #require(FileHandle(forWritingAtPath: file))
            try handle.truncate(atOffset: UInt64(size))
            try handle.close()
            let up = try lab.curl(["-T", file, "-X", "POST", "\(lab.url)/upload"])
            #expect(up.stdout == "a \(size)", "\(up)")
            let chunked = try lab.curl([
                "-T", file, "-X", "POST", "-H", "Transfer-Encoding: chunked", "\(lab.url)/upload",
            ])
            #expect(chunked.stdout == "a \(size)", "\(chunked)")
            // The test process holds the relay and the server: neither kept a body whole.
            #expect(residentKiB() - before < 48 * 1024, "resident memory grew by \(residentKiB() - before) KiB")
        }
    }

    @Test(arguments: Self.engines) func aWebSocketUpgradePassesThrough(engine: String) async throws {
        let lab = try await HTTPLab(engine: engine, backends: ["a"])
        try await using(lab) { lab throws in
            let socket = try TestSocket(port: lab.port, timeout: .seconds(5))
            defer { socket.close() }
            try socket.send(
                "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n"
            )
            var lines: [String] = []
            while let line = try socket.readLine(), line != "\r", lines.count < 20 { lines.append(line) }
            #expect(lines.first?.hasPrefix("HTTP/1.1 101") == true, "\(lines)")
            try socket.send("ping\n")
            #expect(try socket.readLine() == "ping")
            try socket.send("pong\n")
            #expect(try socket.readLine() == "pong")
        }
    }

    @Test(arguments: Self.engines) func errorsAnswerWithTheRightStatus(engine: String) async throws {
        let lab = try await HTTPLab(
            engine: engine,
            backends: ["a", "b"],
            relay: """
                    max-header-size: 4096
                    timeouts: {server: 1s, request: 1s}
                """)
        try await using(lab) { lab throws in
            func status(_ arguments: [String]) throws -> String {
                try lab.curl(["-o", "/dev/null", "-w", "%{http_code}"] + arguments).stdout
            }
            #expect(try status(["-H", "X-Big: \(String(repeating: "x", count: 8000))", "\(lab.url)/"]) == "431")
            #expect(try status(["\(lab.url)/hang"]) == "504")
            #expect(try status(["-X", "POST", "-d", "x", "\(lab.url)/close"]) == "502")

            let malformed = try TestSocket(port: lab.port, timeout: .seconds(5))
            try malformed.send("GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
            #expect(try malformed.readLine()?.hasPrefix("HTTP/1.1 400") == true)
            malformed.close()

            let slow = try TestSocket(port: lab.port, timeout: .seconds(5))
            try slow.send("GET / HTTP/1.1\r\nHost: x\r\n")
            #expect(try slow.readLine()?.hasPrefix("HTTP/1.1 408") == true)
            slow.close()

            for backend in lab.backends {
                _ = try lab.node.state.setDrained(true, for: ServerKey(pool: "web", server: backend.name))
            }
            #expect(try status(["\(lab.url)/"]) == "503")
        }
    }

    @Test(arguments: Self.engines) func aDeadServerIsRetriedOnAnotherForIdempotentRequests(
        engine: String
    ) async throws {
        let lab = try await HTTPLab(engine: engine, backends: ["a", "b"], relay: "    mode: round-robin")
        try await using(lab) { lab throws in
            await lab.backend("a").stop()
            let answers = try (0..<6).map { _ in try lab.curl(["-w", " %{http_code}", "\(lab.url)/"]).stdout }
            #expect(answers.allSatisfy { $0 == "b 200" }, "\(answers)")
        }
    }

    @Test(arguments: Self.engines) func renewedCertificatesAreServedAfterAReload(engine: String) async throws {
        let lab = try await HTTPLab(
            engine: engine, backends: ["a"], protocol: "https",
            relay: "    certificates: [{certificate: server.pem, key: server.key}]")
        try await using(lab) { lab throws in
            let url = "https://localhost:\(lab.port)/"
            #expect(try lab.curl(["--cacert", lab.caFile, url]).stdout == "a")
            let renewed = try TestCertificates(names: ["localhost"])
            let renewedCA = lab.directory.appendingPathComponent("renewed-ca.pem").path
            try renewed.caPEM.write(toFile: renewedCA, atomically: true, encoding: .utf8)
            try renewed.certificatePEM.write(
                to: lab.directory.appendingPathComponent("server.pem"), atomically: true, encoding: .utf8)
            try renewed.keyPEM.write(
                to: lab.directory.appendingPathComponent("server.key"), atomically: true, encoding: .utf8)
            // Until the reload the old certificate is served.
            #expect(try lab.curl(["--cacert", renewedCA, url]).status != 0)
            try await lab.node.apply(lab.node.state.current.topology)
            #expect(try lab.curl(["--cacert", renewedCA, url]).stdout == "a")
        }
    }

    @Test(arguments: Self.engines) func pipelinedRequestsAreAnsweredInOrderAndBalancedOneByOne(
        engine: String
    ) async throws {
        let lab = try await HTTPLab(engine: engine, backends: ["a", "b"], relay: "    mode: round-robin")
        try await using(lab) { lab throws in
            let socket = try TestSocket(port: lab.port, timeout: .seconds(5))
            defer { socket.close() }
            let request = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
            try socket.send(request + request + request + "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            let text = String(decoding: try socket.readToEnd(limit: 1 << 16), as: UTF8.self)
            let bodies = text.components(separatedBy: "\r\n\r\n").dropFirst().map { String($0.prefix(1)) }
            #expect(bodies == ["a", "b", "a", "b"] || bodies == ["b", "a", "b", "a"], "\(text)")
        }
    }

    @Test(arguments: Self.engines) func headChunkedAndHTTP10ResponsesKeepTheirFraming(engine: String) async throws {
        let lab = try await HTTPLab(engine: engine, backends: ["a"])
        try await using(lab) { lab throws in
            // HEAD, then chunked, then a plain GET on one connection: a stray byte would shift them.
            let mixed = try lab.curl([
                "-I", "\(lab.url)/", "--next", "-sS", "\(lab.url)/chunked", "--next", "-sS", "-w", " %{num_connects}",
                "\(lab.url)/",
            ])
            #expect(mixed.stdout.hasPrefix("HTTP/1.1 200"), "\(mixed)")
            #expect(mixed.stdout.hasSuffix("chunked aa 0"), "\(mixed)")
            let old = try TestSocket(port: lab.port, timeout: .seconds(5))
            defer { old.close() }
            try old.send("GET /chunked HTTP/1.0\r\n\r\n")
            let text = String(decoding: try old.readToEnd(limit: 1 << 16), as: UTF8.self)
            #expect(text.hasPrefix("HTTP/1.0 200"), "\(text)")
            #expect(text.hasSuffix("\r\n\r\nchunked a"), "\(text)")
            #expect(!text.lowercased().contains("transfer-encoding"))
        }
    }

    @Test(arguments: Self.engines) func anIdleClientConnectionIsClosed(engine: String) async throws {
        let lab = try await HTTPLab(engine: engine, backends: ["a"], relay: "    timeouts: {idle: 1s}")
        try await using(lab) { lab throws in
            let socket = try TestSocket(port: lab.port, timeout: .seconds(5))
            defer { socket.close() }
            try socket.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            var lines: [String] = []
            while let line = try socket.readLine(), line != "\r", lines.count < 20 { lines.append(line) }
            #expect(lines.first?.hasPrefix("HTTP/1.1 200") == true)
            #expect(try socket.read(limit: 1) == Array("a".utf8))
            let answered = ContinuousClock.now
            // Blocks until Ballast closes the connection (or the socket's 5 s timeout).
            #expect(socket.isClosedByPeer())
            #expect(ContinuousClock.now - answered >= .milliseconds(800), "closed before the idle timeout")
        }
    }

    @Test(arguments: Self.engines) func randomBytesGetAnErrorOrAClosedConnectionAndTheRelayGoesOn(
        engine: String
    ) async throws {
        let lab = try await HTTPLab(engine: engine, backends: ["a"], relay: "    timeouts: {request: 1s}")
        try await using(lab) { lab throws in
            var generator = SystemRandomNumberGenerator()
            let prefixes = [
                "", "GET ", "GET / HTTP/1.1\r\n", "POST / HTTP/1.1\r\nContent-Length: 5\r\n", "GET / HTTP/9.9\r\n\r\n",
            ]
            for round in 0..<60 {
                let socket = try TestSocket(port: lab.port, timeout: .seconds(4))
                var bytes = Array(prefixes[round % prefixes.count].utf8)
                bytes += (0..<Int.random(in: 1...512, using: &generator)).map { _ in
                    UInt8.random(in: 0...255, using: &generator)
                }
                bytes += Array("\r\n\r\n".utf8)
                try? socket.send(bytes)
                // Whatever came back, the connection ends: nothing hangs past the request timeout.
                let answer = (try? socket.readToEnd(limit: 1 << 16)) ?? []
                let text = String(decoding: answer.prefix(12), as: UTF8.self)
                #expect(
                    text.isEmpty || text.hasPrefix("HTTP/1.1 4") || text.hasPrefix("HTTP/1.1 5")
                        || text.hasPrefix("HTTP/1.1 200"), "\(text)")
                socket.close()
            }
            #expect(try lab.curl(["\(lab.url)/"]).stdout == "a")
        }
    }
}
