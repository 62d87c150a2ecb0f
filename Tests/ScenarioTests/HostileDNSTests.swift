import BallastCodecs
import BallastCore
import BallastTestSupport
import Foundation
import Testing

/// The DNS listener over UDP and TCP, attacked for several rounds: mutated and random queries,
/// every truncation, floods that would make it an amplifier, and over TCP floods of connections,
/// huge and cut lengths, abandoned and slow senders. After each round the node answers a good
/// query, holds no socket in CLOSE-WAIT and no TCP connection open, and its memory stays flat.
@Suite(.serialized) struct HostileDNSTests {
    static func query(_ name: String, _ type: UInt16, edns: Bool = true) -> [UInt8] {
        var query = DNSMessage(id: UInt16.random(in: 0...UInt16.max))
        query.recursionDesired = true
        query.questions = [DNSQuestion(name: DomainName(name)!, type: type)]
        if edns { query.edns = EDNS(udpPayloadSize: 4096) }
        return DNSMessageWriter.serialize(query)
    }

    static let seeds = [
        query("pool01.contoso.com", DNSType.a), query("_sip._tls.contoso.com", DNSType.srv),
        query("big.contoso.com", DNSType.any),
        query("nothere.contoso.com", DNSType.a, edns: false), query("contoso.com", DNSType.axfr),
    ]

    func good(_ lab: HostileLab) throws -> Bool {
        try Dig.short(port: lab.ports["dns"]!, "pool01.contoso.com", "A") == ["127.0.0.1"]
            && Dig.short(port: lab.ports["dns"]!, "_sip._tls.contoso.com", "SRV", ["+tcp"]).count == 1
    }

    @Test func udpAndTCPListeners() async throws {
        try await HostileLab.with { lab in
            let port = lab.ports["dns"]!
            var mutator = Mutator(seed: 7)
            var tcp = Attack(
                port: port,
                bytes: Self.seeds.map {
                    [UInt8(truncatingIfNeeded: $0.count >> 8), UInt8(truncatingIfNeeded: $0.count)] + $0
                }
                    + [[0xFF, 0xFF] + Array(repeating: 0, count: 100), [0x00, 0x00], [0x80, 0x00] + Self.seeds[0]])
            let resident = try await attackInRounds(
                4, name: "dns", probe: lab.probe, settle: { await lab.settles(relay: nil) }
            ) { _ in
                // UDP: every seed cut at every length, hostile numbers, damage and random bytes.
                let udp = try DatagramAttack(port: port)
                let corpus = mutator.corpus(Self.seeds, damage: 400, random: 400)
                udp.send(corpus)
                udp.drain(for: .milliseconds(500))
                // TCP: floods, cut frames, huge lengths, abandoned, half-open and slow.
                let before = tcp.tried
                tcp.connectAndClose(300)
                tcp.truncations()
                tcp.mutations(200)
                tcp.abandon(40)
                await tcp.slowSenders(10, pause: .milliseconds(200), for: .seconds(1))
                // dns.tcp-timeout is 1 s in the lab: a query must be whole by then, and a quiet connection goes too.
                let open = tcp.heldLeftOpen(within: .seconds(10))
                #expect(open.isEmpty, "TCP clients the node kept: \(open.prefix(5))")
                tcp.release()
                return corpus.count + tcp.tried - before
            }
            #expect(lab.ballast.isRunning, "\(lab.ballast.log.suffix(3000))")
            #expect(try good(lab), "a good query was not answered after the attack")
            #expect(lab.probe.lingeringCloseWaitSockets() == 0, "sockets left in CLOSE-WAIT: \(lab.probe.tcpStates)")
            #expect(try lab.metric("ballast_dns_tcp_connections_active") == 0)
            #expect(resident.last! - resident[2] < 3 * 1024, "resident memory by round: \(resident) KiB")
            #expect(try lab.metric("ballast_bad_input_total", ["listener": "dns-udp"]) > 0)
            // Bad input is summarised, not logged once per packet.
            let lines = lab.ballast.log.split(separator: "\n").filter { $0.contains("bad input") }.count
            #expect(lines < 400, "\(lines) log lines for the bad input of four rounds")
        }
    }

    /// A 45-byte query whose answer is ten 200-byte TXT records, sent 2,000 times as if by a
    /// victim: rate limiting keeps what goes back to about what came in, not 49 times more.
    @Test func theListenerIsNoAmplifier() async throws {
        try await HostileLab.with { lab in
            let port = lab.ports["dns"]!
            let query = Self.query("big.contoso.com", DNSType.txt, edns: true)
            let single = try DatagramAttack(port: port, source: "127.0.0.9")
            single.send([query])
            single.drain(for: .milliseconds(300))
            #expect(single.receivedBytes > 2000, "one answer holds the ten records: \(single.receivedBytes) bytes")
            let flood = try DatagramAttack(port: port, source: "127.0.0.9")
            flood.send(Array(repeating: query, count: 2000))
            flood.drain(for: .seconds(1))
            let ratio = Double(flood.receivedBytes) / Double(flood.sentBytes)
            print(
                "hostile dns amplification: \(flood.sentDatagrams) queries, \(flood.sentBytes) bytes in, \(flood.receivedDatagrams) answers, \(flood.receivedBytes) bytes out, \(ratio) out/in"
            )
            #expect(ratio < 2.0, "\(flood.receivedBytes) bytes answered to \(flood.sentBytes)")
            #expect(try lab.metric("ballast_dns_rate_limited_total", ["action": "truncated"]) > 500)
            // A real resolver told to use TCP gets its answer there.
            #expect(try Dig.short(port: port, "big.contoso.com", "TXT", ["+tcp"]).count == 10)
            // ANY over UDP is one RRset.
            #expect(try Dig.short(port: port, "big.contoso.com", "ANY", ["-b", "127.0.0.10"]).count == 10)
        }
    }
}
