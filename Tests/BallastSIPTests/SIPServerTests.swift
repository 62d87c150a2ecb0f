import BallastCodecs
import BallastCore
import BallastNode
import BallastSIP
import BallastTestSupport
import Foundation
import Testing

/// The SIP listeners as transports: UDP, TCP with Content-Length framing and several
/// requests per connection, TLS, and bad input that gets 400 or silence, never a crash.
@Suite(.serialized)
struct SIPServerTests {
    let alice = "sip:alice@lab.example"

    @Test func tcpCarriesSeveralRequestsPerConnectionIncludingSplitAndCoalescedOnes() async throws {
        try await SIPLab.with { lab in
            let client = try SIPTestClient(port: lab.hqPort, tcp: true)
            let result = try client.register(
                aor: alice, password: "secret-alice", contacts: ["<sip:alice@127.0.0.1:7001;transport=tcp>"])
            #expect(result.response.status == 200)
            // Two OPTIONS in one write, then one in three pieces with a keep-alive before it.
            let first = SIPMessageWriter.encode(
                client.makeRequest("OPTIONS", uri: "sip:127.0.0.1", to: "sip:127.0.0.1"))
            let second = SIPMessageWriter.encode(
                client.makeRequest("OPTIONS", uri: "sip:127.0.0.1", to: "sip:127.0.0.1"))
            try client.sendRaw(first + second)
            #expect(try client.receive().status == 200)
            #expect(try client.receive().status == 200)
            let third =
                Array("\r\n\r\n".utf8)
                + SIPMessageWriter.encode(
                    client.makeRequest(
                        "OPTIONS", uri: "sip:127.0.0.1", to: "sip:127.0.0.1", extra: [("Content-Type", "text/plain")]))
            for piece in [third[..<7], third[7..<40], third[40...]] {
                try client.sendRaw(Array(piece))
                try await Task.sleep(for: .milliseconds(20))
            }
            let answer = try client.receive()
            #expect(answer.status == 200)
            #expect(answer.cseq?.number == 5)
        }
    }

    /// At `sip.max-connections` a TCP listener stops accepting: the next client waits in the
    /// listen backlog, unanswered, as a relay's do. A reload that raises the limit lets it in
    /// at once, without closing the connection already served.
    @Test func aListenerAtItsConnectionLimitLetsTheNextClientWaitUntilAReloadRaisesIt() async throws {
        try await SIPLab.with(maxConnections: 1) { lab in
            func options(_ client: SIPTestClient) -> SIPMessage {
                client.makeRequest("OPTIONS", uri: "sip:127.0.0.1", to: "sip:127.0.0.1")
            }
            let served = try SIPTestClient(port: lab.hqPort, tcp: true)
            #expect(try served.send(options(served)).status == 200)
            // Connected in the kernel's backlog, but not accepted: no answer.
            let waiting = try SIPTestClient(port: lab.hqPort, tcp: true, timeout: .seconds(1))
            try waiting.sendRaw(SIPMessageWriter.encode(options(waiting)))
            #expect(throws: (any Error).self) { try waiting.receive() }

            var topology = lab.node.state.current.topology
            topology.sip?.maxConnections = 2
            try await lab.node.apply(topology)
            #expect(await eventually(timeout: .seconds(3)) { (try? waiting.receive())?.status == 200 })
            #expect(try served.send(options(served)).status == 200, "the served connection was kept")
        }
    }

    @Test func tlsListenerAnswersOverTLS13() async throws {
        try await SIPLab.with { lab in
            let script = """
                import socket, ssl, sys
                context = ssl.create_default_context(); context.check_hostname = False; context.verify_mode = ssl.CERT_NONE
                sock = context.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5))
                sock.sendall(b"OPTIONS sip:127.0.0.1 SIP/2.0\\r\\nVia: SIP/2.0/TLS 127.0.0.1:5999;branch=z9hG4bKtls1\\r\\nFrom: <sip:t@lab.example>;tag=1\\r\\nTo: <sip:127.0.0.1>\\r\\nCall-ID: tls-1\\r\\nCSeq: 1 OPTIONS\\r\\nContent-Length: 0\\r\\n\\r\\n")
                data = b""
                while b"\\r\\n\\r\\n" not in data:
                    chunk = sock.recv(4096)
                    if not chunk: break
                    data += chunk
                print(sock.version()); print(data.decode())
                """
            let output = try runTool("/usr/bin/python3", ["-c", script, "\(lab.hqTLSPort)"])
            #expect(output.stdout.contains("SIP/2.0 200 OK"), "\(output.stdout)\(output.stderr)")
            #expect(output.stdout.contains("TLSv1.3"))
            #expect(output.stdout.contains("Via: SIP/2.0/TLS 127.0.0.1:5999;branch=z9hG4bKtls1\r\n"))
        }
    }

    @Test func malformedDatagramsAreDroppedAndTheServerGoesOn() async throws {
        try await SIPLab.with { lab in
            let client = try SIPTestClient(port: lab.hqPort, timeout: .milliseconds(300))
            let garbage: [[UInt8]] = [
                Array("not sip at all\r\n\r\n".utf8),
                Array("REGISTER sip:x SIP/2.0\r\nContent-Length: 900\r\n\r\nshort".utf8),
                [0xFF, 0xFE, 0x00, 0x0D, 0x0A, 0x0D, 0x0A],
                Array(" folded-first: x\r\n\r\n".utf8),
            ]
            for bytes in garbage {
                try client.sendRaw(bytes)
                #expect(throws: (any Error).self) { try client.receive() }
            }
            // Another version gets 505, over UDP as over TCP; Max-Forwards 0 gets 483 before any challenge.
            var future = client.makeRequest("REGISTER", uri: "sip:127.0.0.1", to: "sip:alice@lab.example")
            future.version = "SIP/3.0"
            let futureBytes = String(decoding: SIPMessageWriter.encode(future), as: UTF8.self)
                .replacingOccurrences(of: "REGISTER sip:127.0.0.1 SIP/2.0", with: "REGISTER sip:127.0.0.1 SIP/3.0")
            try client.sendRaw(Array(futureBytes.utf8))
            #expect(try client.receive().startLine == .response(status: 505, reason: "Version Not Supported"))
            var hopless = client.makeRequest("REGISTER", uri: "sip:127.0.0.1", to: "sip:alice@lab.example")
            hopless.set("Max-Forwards", "0")
            try client.sendRaw(SIPMessageWriter.encode(hopless))
            #expect(try client.receive().startLine == .response(status: 483, reason: "Too Many Hops"))
            let overTCP = try SIPTestClient(port: lab.hqPort, tcp: true)
            try overTCP.sendRaw(Array(futureBytes.utf8))
            #expect(try overTCP.receive().status == 505)
            // A request without the mandatory headers gets 400.
            try client.sendRaw(
                Array(
                    "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKx\r\nContent-Length: 0\r\n\r\n"
                        .utf8))
            let bad = try client.receive()
            #expect(bad.status == 400)
            #expect(bad.startLine == .response(status: 400, reason: "Bad Request (no valid From)"))
            var generator = SystemRandomNumberGenerator()
            let valid = SIPMessageWriter.encode(
                client.makeRequest("OPTIONS", uri: "sip:127.0.0.1", to: "sip:127.0.0.1"))
            for round in 0..<300 {
                var bytes = valid
                if round % 2 == 0 {
                    bytes = (0..<Int.random(in: 1...600, using: &generator)).map { _ in
                        UInt8.random(in: 0...255, using: &generator)
                    }
                } else {
                    for _ in 0..<Int.random(in: 1...8, using: &generator) {
                        bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(
                            in: 0...255, using: &generator)
                    }
                }
                try client.sendRaw(bytes)
            }
            let checker = try SIPTestClient(port: lab.hqPort)
            let options = try checker.send(checker.makeRequest("OPTIONS", uri: "sip:127.0.0.1", to: "sip:127.0.0.1"))
            #expect(options.status == 200)
        }
    }

    @Test func aStreamThatCannotBeFramedGets400AndIsClosed() async throws {
        try await SIPLab.with { lab in
            for bytes in [
                "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKx\r\n\r\n",
                "OPTIONS sip:127.0.0.1 SIP/2.0\r\nContent-Length: x\r\n\r\n",
                "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                "OPTIONS sip:127.0.0.1 SIP/2.0\r\nX: " + String(repeating: "a", count: 20_000),
            ] {
                let client = try SIPTestClient(port: lab.hqPort, tcp: true)
                try client.sendRaw(Array(bytes.utf8))
                let answer = try client.receive()
                #expect(answer.status == 400, "\(bytes.prefix(40))")
                #expect(client.isClosedByServer())
            }
            let client = try SIPTestClient(port: lab.hqPort, tcp: true)
            let options = try client.send(client.makeRequest("OPTIONS", uri: "sip:127.0.0.1", to: "sip:127.0.0.1"))
            #expect(options.status == 200)
        }
    }

    @Test func otherMethodsGet405WithAllowAndACKIsSilent() async throws {
        try await SIPLab.with { lab in
            let client = try SIPTestClient(port: lab.hqPort, timeout: .milliseconds(300))
            let invite = try client.send(
                client.makeRequest("INVITE", uri: "sip:bob@lab.example", to: "sip:bob@lab.example"))
            #expect(invite.status == 405)
            #expect(invite.all("Allow") == ["REGISTER", "OPTIONS", "ACK"])
            try client.sendRaw(
                SIPMessageWriter.encode(
                    client.makeRequest("ACK", uri: "sip:bob@lab.example", to: "sip:bob@lab.example")))
            #expect(throws: (any Error).self) { try client.receive() }
        }
    }
}
