import BallastTestSupport
import Foundation
import NIOHTTP1
import Testing

/// HTTP/2 from clients on Ballast's engine, over real sockets: curl, nghttp and h2load against
/// a relay in this process in front of HTTP/1.1 servers on 127.0.0.1.
@Suite(.serialized) struct HTTP2EngineTests {
    /// h2c by prior knowledge on a plain relay: one connection, each stream balanced on its own,
    /// the servers reached over HTTP/1.1 with the client's authority as Host.
    @Test func h2cByPriorKnowledgeBalancesEachStream() async throws {
        let lab = try await HTTPLab(engine: "ballast", relay: "    mode: round-robin")
        try await using(lab) { lab throws in
            // nghttp sends the six requests as six concurrent streams of one connection. (curl 7.88
            // cannot reuse a prior-knowledge connection: curl/curl#10634.)
            let output = try BallastProcess.run(
                executable: URL(fileURLWithPath: "/usr/bin/nghttp"), (1...6).map { "\(lab.url)/?\($0)" },
                timeout: .seconds(20))
            #expect(output.stdout.count == 6, "\(output)")
            #expect(Set(output.stdout) == ["a", "b", "c"], "\(output)")
            #expect(lab.backends.map(\.acceptedConnections).reduce(0, +) >= 3)
            let single = try lab.curl(["--http2-prior-knowledge", "-w", " %{http_version}", "\(lab.url)/"])
            #expect(single.stdout.hasSuffix(" 2"), "\(single)")
            let head = try #require(lab.backends.flatMap(\.requests).last)
            #expect(head.version.major == 1 && head.version.minor == 1)
            #expect(head.headers.first(name: "host") == "127.0.0.1:\(lab.port)")
            #expect(head.headers.first(name: "x-forwarded-proto") == "http")
            // Plain HTTP/1.1 on the same relay goes on as before.
            #expect(try lab.curl(["-w", " %{http_version}", "\(lab.url)/"]).stdout.hasSuffix(" 1.1"))
        }
    }

    /// Over TLS with ALPN h2: the persistence cookie is set and honoured, the client's cookie
    /// crumbs reach the server joined without Ballast's, and the forwarding headers say https.
    @Test func cookiePersistenceAndForwardingHeadersOverHTTP2() async throws {
        let lab = try await HTTPLab(
            engine: "ballast", protocol: "https",
            relay: """
                    mode: round-robin
                    certificates: [{certificate: server.pem, key: server.key}]
                    persistence: {type: cookie, name: LB, key: a-secret-of-enough-length}
                """)
        try await using(lab) { lab throws in
            let jar = lab.directory.appendingPathComponent("jar").path
            let base = "https://127.0.0.1:\(lab.port)/"
            let first = try lab.curl(["--http2", "--cacert", lab.caFile, "-D", "-", "-c", jar, base])
            #expect(first.stdout.hasPrefix("HTTP/2 200"), "\(first)")
            #expect(first.stdout.lowercased().contains("set-cookie: lb="), "\(first)")
            let pinned = try #require(first.stdout.split(separator: "\r\n").last.map(String.init))
            for _ in 0..<4 {
                let again = try lab.curl(["--http2", "--cacert", lab.caFile, "-b", jar, "-b", "other=1", base])
                #expect(again.stdout == pinned, "\(again)")
            }
            let head = try #require(lab.backend(pinned).requests.last)
            #expect(head.headers.first(name: "cookie")?.contains("LB=") == false, "\(head.headers)")
            #expect(head.headers.first(name: "cookie")?.contains("other=1") == true, "\(head.headers)")
            #expect(head.headers.first(name: "x-forwarded-proto") == "https")
        }
    }

    /// Flow control end to end: a 64 MiB download and uploads with and without a length (the
    /// latter sent chunked to the server) pass whole, while the process's memory stays flat.
    @Test func bodiesStreamBothWaysUnderFlowControl() async throws {
        let lab = try await HTTPLab(engine: "ballast", backends: ["a"])
        try await using(lab) { lab throws in
            let size = 64 * 1024 * 1024
            let before = residentKiB()
            let down = try lab.curl(
                [
                    "--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{size_download} %{http_code} %{http_version}",
                    "\(lab.url)/download/\(size)",
                ])
            #expect(down.stdout == "\(size) 200 2", "\(down)")
            let file = lab.directory.appendingPathComponent("upload").path
            #expect(FileManager.default.createFile(atPath: file, contents: nil))
            let handle = try #require(FileHandle(forWritingAtPath: file))
            try handle.truncate(atOffset: UInt64(size))
            try handle.close()
            let up = try lab.curl(["--http2-prior-knowledge", "-T", file, "-X", "POST", "\(lab.url)/upload"])
            #expect(up.stdout == "a \(size)", "\(up)")
            // From a pipe curl knows no length: the stream has none, and the server gets chunks.
            let piped = try BallastProcess.run(
                executable: URL(fileURLWithPath: "/bin/sh"),
                [
                    "-c",
                    "head -c \(size) /dev/zero | curl -sS --max-time 50 --http2-prior-knowledge -T - -X POST \(lab.url)/upload",
                ],
                timeout: .seconds(60))
            #expect(piped.stdout == "a \(size)", "\(piped)")
            #expect(lab.backend("a").requests.last?.headers.first(name: "transfer-encoding") == "chunked")
            #expect(residentKiB() - before < 48 * 1024, "resident memory grew by \(residentKiB() - before) KiB")
        }
    }

    /// Many streams at once over few connections (h2load), then a client that gives up on a
    /// stream the server never answers: the relay serves on.
    @Test func concurrentStreamsAndAbandonedOnes() async throws {
        let lab = try await HTTPLab(engine: "ballast", relay: "    mode: round-robin")
        try await using(lab) { lab throws in
            let load = try BallastProcess.run(
                executable: URL(fileURLWithPath: "/usr/bin/h2load"),
                ["-n", "600", "-c", "3", "-m", "50", "\(lab.url)/"],
                timeout: .seconds(60))
            #expect(load.stdout.contains("600 succeeded, 0 failed, 0 errored"), "\(load.stdout)")
            let abandoned = try lab.curl(["--http2-prior-knowledge", "--max-time", "1", "\(lab.url)/hang"])
            #expect(abandoned.status != 0)
            #expect(try lab.curl(["--http2-prior-knowledge", "\(lab.url)/"]).stdout.count == 1)
        }
    }
}
