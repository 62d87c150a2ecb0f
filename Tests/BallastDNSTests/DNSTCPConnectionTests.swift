import BallastCodecs
import BallastCore
import BallastTestSupport
import Testing

/// DNS over TCP on the engine, over real sockets: queries sent together are answered in
/// order, a query may arrive in pieces, and a message no DNS server can read ends only its
/// own connection.
@Suite(.serialized) struct DNSTCPConnectionTests {
    func framed(id: UInt16, _ name: String, _ type: UInt16) -> [UInt8] {
        var query = DNSMessage(id: id)
        query.questions = [DNSQuestion(name: DomainName(name)!, type: type)]
        let bytes = DNSMessageWriter.serialize(query)
        return [UInt8(bytes.count >> 8), UInt8(bytes.count & 0xFF)] + bytes
    }

    /// The framed messages on `socket` until `count` are whole.
    func answers(_ count: Int, from socket: TestSocket) throws -> [DNSMessage] {
        var received: [UInt8] = []
        var messages: [DNSMessage] = []
        for _ in 0..<200 where messages.count < count {
            received += try socket.read()
            while received.count >= 2, received.count >= 2 + (Int(received[0]) << 8 | Int(received[1])) {
                let length = Int(received[0]) << 8 | Int(received[1])
                messages.append(try DNSMessageParser.parse(Array(received[2..<(2 + length)])))
                received.removeFirst(2 + length)
            }
        }
        return messages
    }

    @Test func queriesSentTogetherAreAnsweredInOrder() async throws {
        let lab = try await DNSLab()
        try await using(lab) { lab throws in
            let socket = try TestSocket(port: lab.port, timeout: .seconds(3))
            try socket.send(
                framed(id: 11, "mail.contoso.com", DNSType.a) + framed(id: 12, "contoso.com", DNSType.mx)
                    + framed(id: 13, "nothere.contoso.com", DNSType.a))
            let got = try answers(3, from: socket)
            #expect(got.map(\.id) == [11, 12, 13])
            #expect(got.map(\.rcode) == [DNSRCode.noError, DNSRCode.noError, DNSRCode.nxDomain])
            // The connection stays open for more.
            try socket.send(framed(id: 14, "mail.contoso.com", DNSType.a))
            #expect(try answers(1, from: socket).map(\.id) == [14])
        }
    }

    /// At `dns.max-tcp-connections` the listener stops accepting: the next client waits in the
    /// backlog, unanswered, and is answered once a connection ends.
    @Test func aListenerAtItsConnectionLimitLetsTheNextClientWait() async throws {
        let lab = try await DNSLab(maxTCPConnections: 1)
        try await using(lab) { lab throws in
            var first: TestSocket? = try TestSocket(port: lab.port, timeout: .seconds(3))
            try first?.send(framed(id: 31, "mail.contoso.com", DNSType.a))
            #expect(try answers(1, from: first!).map(\.id) == [31])
            let waiting = try TestSocket(port: lab.port, timeout: .seconds(1))
            try waiting.send(framed(id: 32, "mail.contoso.com", DNSType.a))
            #expect(throws: (any Error).self) { try waiting.read() }
            first?.close()
            first = nil
            #expect(
                await eventually(timeout: .seconds(3)) {
                    (try? answers(1, from: waiting))?.map(\.id) == [32]
                })
        }
    }

    @Test func aQueryArrivingByteByByteIsAnswered() async throws {
        let lab = try await DNSLab()
        try await using(lab) { lab throws in
            let socket = try TestSocket(port: lab.port, timeout: .seconds(3))
            for byte in framed(id: 21, "mail.contoso.com", DNSType.a) {
                try socket.send([byte])
                try await Task.sleep(for: .milliseconds(2))
            }
            let got = try answers(1, from: socket)
            #expect(got.map(\.id) == [21])
            #expect(got.first?.answers.count == 1)
        }
    }

    @Test func anUnreadableMessageClosesOnlyItsConnection() async throws {
        let lab = try await DNSLab()
        try await using(lab) { lab throws in
            let bad = try TestSocket(port: lab.port, timeout: .seconds(3))
            let good = try TestSocket(port: lab.port, timeout: .seconds(3))
            // A zero-length message has no header: nothing to answer, the connection ends.
            try bad.send([0, 0])
            #expect(bad.isClosedByPeer())
            try good.send(framed(id: 31, "mail.contoso.com", DNSType.a))
            #expect(try answers(1, from: good).map(\.id) == [31])
        }
    }
}
