import BallastCodecs
import BallastCore
import BallastNode
import BallastStore
import BallastTestSupport
import Foundation
import Testing

/// HTTP relays that route by user: curl with Basic credentials (checked against the directory)
/// or behind an authenticating front that sets a header, landing on the active copy's server.
@Suite(.serialized) struct HTTPUserRoutingTests {
    private func curl(_ port: Int, _ arguments: [String]) throws -> (status: String, body: String) {
        let output = try BallastProcess.run(
            executable: URL(fileURLWithPath: "/usr/bin/curl"),
            ["-s", "-m", "10", "-o", "-", "-w", "\n%{http_code} %{time_total}"] + arguments + [
                "http://127.0.0.1:\(port)/owa/"
            ])
        let lines = output.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        return (String(lines.last ?? ""), lines.dropLast().joined(separator: "\n"))
    }

    /// The data planes every test runs against: SwiftNIO and Ballast's engine.
    static let engines = ["ballast"]

    @Test(arguments: Self.engines) func basicCredentialsPickTheActiveCopysServer(engine: String) async throws {
        let lab = try await MailLab(failureDelay: "300ms", httpEngine: engine)
        try await using(lab) { lab throws in
            let port = lab.ports["owa"]!
            #expect(try curl(port, ["-u", "alice@contoso.com:alice-demo"]).body == "mbx1")
            #expect(try curl(port, ["-u", "bob:bob-demo"]).body == "mbx2")
            let missing = try curl(port, [])
            #expect(missing.status.hasPrefix("401"))
            let wrong = try curl(port, ["-u", "alice:nope"])
            #expect(wrong.status.hasPrefix("401"))
            let unknown = try curl(port, ["-u", "mallory:alice-demo"])
            #expect(unknown.status.hasPrefix("401"))
            for answer in [wrong, unknown] {
                let seconds = Double(answer.status.split(separator: " ").last ?? "") ?? 0
                #expect(seconds >= 0.3, "a refused login was answered after \(seconds) s")
            }
            let headers = try BallastProcess.run(
                executable: URL(fileURLWithPath: "/usr/bin/curl"),
                ["-s", "-D", "-", "-o", "/dev/null", "http://127.0.0.1:\(port)/"])
            #expect(headers.stdout.lowercased().contains("www-authenticate: basic realm=\"contoso.com\""))
            #expect(try curl(port, ["-u", "carol:carol-demo"]).status.hasPrefix("503"))

            // Routing follows the move once the node reads it (a 200 ms poll here). How soon is
            // the timed pass's to assert (MailProxyTests); this suite runs beside others, where
            // spawning curl alone took seconds once, so it waits up to 10 s.
            try await lab.store.apply([.activate(database: "DB01", server: "mbx2")], actor: "test")
            var body = ""
            #expect(
                await eventually(timeout: .seconds(10), every: .milliseconds(100)) {
                    body = (try? curl(port, ["-u", "alice:alice-demo"]).body) ?? ""
                    return body == "mbx2"
                }, "\(body)")
        }
    }

    /// Basic credentials guessed from one address: past the limit the address gets 429 with
    /// Retry-After, right password or not.
    @Test(arguments: Self.engines) func passwordGuessingWithBasicCredentialsIsRefused(engine: String) async throws {
        let lab = try await MailLab(failureDelay: "100ms", httpEngine: engine)
        try await using(lab) { lab throws in
            let port = lab.ports["owa"]!
            var guesses: [TestSocket] = []
            for index in 0..<20 {
                let socket = try TestSocket(port: port, source: "127.0.0.4", timeout: .seconds(3))
                let credentials = Base64.encode(Array("alice:guess\(index)".utf8))
                try socket.send("GET /owa/ HTTP/1.1\r\nHost: lab\r\nAuthorization: Basic \(credentials)\r\n\r\n")
                guesses.append(socket)
            }
            // Every guess counted: the address is refused (their answers come later, ever more delayed).
            #expect(
                await eventually {
                    lab.node.loginThrottle.check(user: "alice", source: IPAddress("127.0.0.4")!) != .allow
                })
            let socket = try TestSocket(port: port, source: "127.0.0.4", timeout: .seconds(3))
            try socket.send(
                "GET /owa/ HTTP/1.1\r\nHost: lab\r\nAuthorization: Basic \(Base64.encode(Array("alice:alice-demo".utf8)))\r\nConnection: close\r\n\r\n"
            )
            let answer = String(decoding: try socket.readToEnd(limit: 65536), as: UTF8.self)
            #expect(answer.hasPrefix("HTTP/1.1 429"), "\(answer)")
            #expect(answer.lowercased().contains("retry-after: "))
            #expect(try curl(port, ["-u", "bob:bob-demo"]).body == "mbx2", "others are served")
            #expect(guesses.count == 20)
        }
    }

    /// Damaged credentials and user headers (empty, no scheme, not base64, no colon, huge, bytes
    /// that are not UTF-8, repeated) get 401 or 403 and never a server; the relay serves after.
    @Test(arguments: Self.engines) func damagedCredentialsAreRefused(engine: String) async throws {
        let lab = try await MailLab(failureDelay: "10ms", httpEngine: engine)
        try await using(lab) { lab throws in
            let huge = Base64.encode(Array(repeating: UInt8(ascii: "a"), count: 12_000))
            let damaged = [
                "Authorization:", "Authorization: Basic", "Authorization: Basic !!!!", "Authorization: Bearer abc",
                "Authorization: Basic \(Base64.encode(Array("no-colon".utf8)))", "Authorization: Basic \(huge)",
                "Authorization: Basic \(Base64.encode([0xff, 0xfe, 0x3a, 0x80]))", "Authorization: basic =",
            ]
            for header in damaged {
                let answer = try curl(lab.ports["owa"]!, ["-H", header])
                #expect(answer.status.hasPrefix("401"), "\(header.prefix(60)): \(answer.status)")
            }
            for header in [
                "X-Remote-User:", "X-Remote-User: \(String(repeating: "x", count: 8_000))", "X-Remote-User: a\u{7f}b",
            ] {
                let answer = try curl(lab.ports["owa-front"]!, ["-H", header])
                #expect(
                    answer.status.hasPrefix("403") || answer.status.hasPrefix("400"),
                    "\(header.prefix(60)): \(answer.status)")
            }
            #expect(try curl(lab.ports["owa"]!, ["-u", "bob:bob-demo"]).body == "mbx2", "the relay serves after")
        }
    }

    @Test(arguments: Self.engines) func aTrustedHeaderFromTheFrontNamesTheUser(engine: String) async throws {
        let lab = try await MailLab(httpEngine: engine)
        try await using(lab) { lab throws in
            let port = lab.ports["owa-front"]!
            #expect(try curl(port, ["-H", "X-Remote-User: alice@contoso.com"]).body == "mbx1")
            #expect(try curl(port, ["-H", "X-Remote-User: bob"]).body == "mbx2")
            #expect(try curl(port, []).status.hasPrefix("403"))
            #expect(try curl(port, ["-H", "X-Remote-User: nobody"]).status.hasPrefix("403"))
        }
    }
}
