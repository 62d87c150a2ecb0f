import BallastCodecs
import BallastCore
import BallastTestSupport
import Foundation
import Testing

/// The SIP registrar over UDP, TCP and TLS, attacked for several rounds: mutated and random
/// messages, every truncation, huge and negative Content-Lengths, floods of wrong digests, and on
/// the streams abandoned, half-open and slow clients and stalled TLS handshakes. After each round
/// the node registers alice, holds no socket in CLOSE-WAIT and no connection open, and its
/// memory stays flat.
@Suite(.serialized) struct HostileSIPTests {
    static func request(_ method: String, body: String = "", extra: String = "") -> String {
        """
        \(method) sip:contoso.com SIP/2.0\r
        Via: SIP/2.0/TCP 127.0.0.1:5099;branch=z9hG4bK\(UInt32.random(in: 1...UInt32.max));rport\r
        Max-Forwards: 70\r
        To: <sip:alice@contoso.com>\r
        From: <sip:alice@contoso.com>;tag=1928301774\r
        Call-ID: a84b4c76e66710@hostile\r
        CSeq: 314159 \(method)\r
        Contact: <sip:alice@127.0.0.1:5099;transport=tcp>;expires=3600\r
        \(extra)Content-Length: \(body.utf8.count)\r
        \r
        \(body)
        """
    }

    static let seeds = [
        request("REGISTER"), request("OPTIONS"), request("INVITE", body: "v=0\r\n"),
        request(
            "REGISTER",
            extra:
                "Authorization: Digest username=\"alice\", realm=\"contoso.com\", nonce=\"00000000000000000000000000000000000000000000000000000000000000ff\", uri=\"sip:contoso.com\", response=\"00112233445566778899aabbccddeeff\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"c\"\r\n"
        ),
        request("REGISTER", extra: "Expires: -1\r\n"),
        "REGISTER sip:contoso.com SIP/2.0\r\nContent-Length: 99999999\r\n\r\nx",
    ]

    /// Alice registers over UDP with the SIP test client.
    func good(_ lab: HostileLab) throws -> Bool {
        let client = try SIPTestClient(port: lab.ports["sip"]!)
        let result = try client.register(
            aor: HostileLab.user.uri, password: HostileLab.user.password, contacts: ["<sip:alice@127.0.0.1:5099>"])
        return result.response.status == 200
    }

    func check(_ lab: HostileLab, resident: [Int]) throws {
        #expect(lab.ballast.isRunning, "\(lab.ballast.log.suffix(3000))")
        #expect(try good(lab), "alice could not register after the attack")
        #expect(lab.probe.lingeringCloseWaitSockets() == 0, "sockets left in CLOSE-WAIT: \(lab.probe.tcpStates)")
        #expect(try lab.metric("ballast_sip_connections_active") == 0)
        #expect(resident.last! - resident[2] < 3 * 1024, "resident memory by round: \(resident) KiB")
    }

    @Test func udpAndTCP() async throws {
        try await HostileLab.with { lab in
            #expect(try good(lab))
            var mutator = Mutator(seed: 11)
            var tcp = Attack(port: lab.ports["sip"]!, seeds: Self.seeds)
            let resident = try await attackInRounds(
                4, name: "sip udp+tcp", probe: lab.probe, settle: { await lab.settles(relay: nil) }
            ) {
                _ in
                let udp = try DatagramAttack(port: lab.ports["sip"]!)
                let corpus = mutator.corpus(Self.seeds.map { Array($0.utf8) }, damage: 300, random: 300)
                udp.send(corpus)
                // Wrong digests for a real nonce from one address, as a password guesser sends them.
                let guesser = try SIPTestClient(port: lab.ports["sip"]!, source: "127.0.0.5")
                let challenge = try guesser.send(
                    guesser.makeRequest("REGISTER", uri: "sip:contoso.com", to: HostileLab.user.uri))
                let wrong = try SIPTestClient.authorize(
                    challenge: challenge, method: "REGISTER", uri: "sip:contoso.com", username: "alice",
                    password: "guess",
                    algorithm: .md5)
                let guess = guesser.makeRequest(
                    "REGISTER", uri: "sip:contoso.com", to: HostileLab.user.uri, extra: [("Authorization", wrong)])
                let guesses = try DatagramAttack(port: lab.ports["sip"]!, source: "127.0.0.5")
                guesses.send(Array(repeating: SIPMessageWriter.encode(guess), count: 300))
                udp.drain(for: .milliseconds(300))
                let before = tcp.tried
                tcp.connectAndClose(300)
                tcp.truncations()
                tcp.mutations(200)
                tcp.abandon(40)
                await tcp.slowSenders(10, pause: .milliseconds(200), for: .seconds(1))
                // sip.message-timeout is 1 s in the lab.
                let open = tcp.heldLeftOpen(within: .seconds(10))
                #expect(open.isEmpty, "TCP clients the node kept: \(open.prefix(5))")
                tcp.release()
                return corpus.count + 300 + tcp.tried - before
            }
            try check(lab, resident: resident)
            #expect(try lab.metric("ballast_login_throttled_total", ["protocol": "sip"]) > 0)
        }
    }

    /// SIP over TLS: ClientHellos cut, damaged and stalled (sip.handshake-timeout is 1 s in the lab).
    @Test func tls() async throws {
        try await HostileLab.with { lab in
            var attack = Attack(port: lab.ports["sips"]!, bytes: [try clientHello()])
            let resident = try await attackInRounds(
                4, name: "sip tls", probe: lab.probe, settle: { await lab.settles(relay: nil) }
            ) { _ in
                let before = attack.tried
                attack.connectAndClose(300)
                attack.truncations()
                attack.mutations(200)
                attack.abandon(40)
                let open = attack.heldLeftOpen(within: .seconds(10))
                #expect(open.isEmpty, "clients stalled in their handshake stayed open: \(open.prefix(5))")
                attack.release()
                return attack.tried - before
            }
            try check(lab, resident: resident)
            // A TLS client is still answered.
            let answer = try lab.tlsExchange(
                port: "sips", send: Self.request("OPTIONS").replacingOccurrences(of: "\r\n", with: "\\r\\n"))
            #expect(answer.hasPrefix("SIP/2.0 200"), "\(answer)")
        }
    }
}
