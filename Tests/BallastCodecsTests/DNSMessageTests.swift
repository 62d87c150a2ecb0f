import BallastCodecs
import BallastCore
import Testing

@Suite struct DNSMessageTests {
    let name = DomainName("sip.Contoso.com")!

    func roundTrip(_ message: DNSMessage) throws -> DNSMessage {
        try DNSMessageParser.parse(DNSMessageWriter.serialize(message))
    }

    @Test func everyRecordTypeSurvivesARoundTrip() throws {
        var message = DNSMessage(id: 0xBEEF)
        message.isResponse = true
        message.authoritative = true
        message.recursionDesired = true
        message.rcode = DNSRCode.nxDomain
        message.questions = [DNSQuestion(name: name, type: DNSType.srv)]
        let target = DomainName("pool01.contoso.com")!
        message.answers = [
            DNSRecord(name: name, ttl: 30, data: .a(IPAddress("10.0.0.1")!)),
            DNSRecord(name: name, ttl: 30, data: .aaaa(IPAddress("2001:db8::1")!)),
            DNSRecord(name: name, ttl: 30, data: .ns(target)),
            DNSRecord(name: name, ttl: 30, data: .cname(target)),
            DNSRecord(
                name: name, ttl: 30,
                data: .soa(primary: target, mailbox: target, serial: 7, refresh: 1, retry: 2, expire: 3, minimum: 4)),
            DNSRecord(name: name, ttl: 30, data: .mx(preference: 10, exchange: target)),
            DNSRecord(name: name, ttl: 30, data: .txt([Array("v=spf1 -all".utf8), []])),
            DNSRecord(name: name, ttl: 30, data: .srv(priority: 0, weight: 10, port: 5061, target: target)),
            DNSRecord(name: name, ttl: 30, data: .unknown(type: 99, bytes: [1, 2, 3])),
        ]
        message.edns = EDNS(udpPayloadSize: 1232, dnssecOK: true)
        let back = try roundTrip(message)
        #expect(back == message)
        #expect(back.questions[0].name.labels[1] == Array("Contoso".utf8))
    }

    @Test func namesAreCompressed() {
        var message = DNSMessage(id: 1)
        message.questions = [DNSQuestion(name: name, type: DNSType.a)]
        message.answers = (1...4).map { DNSRecord(name: name, ttl: 1, data: .a(IPAddress(v4: 10, 0, 0, UInt8($0)))) }
        let bytes = DNSMessageWriter.serialize(message)
        // The question's name in full once, then a two-byte pointer per answer.
        #expect(bytes.count == 12 + (name.wireLength + 4) + 4 * (2 + 10 + 4))
    }

    @Test func oversizedMessagesAreTruncatedToTheQuestion() throws {
        var message = DNSMessage(id: 2)
        message.isResponse = true
        message.questions = [DNSQuestion(name: name, type: DNSType.a)]
        message.answers = (0..<100).map { DNSRecord(name: name, ttl: 1, data: .a(IPAddress(v4: 10, 0, 0, UInt8($0)))) }
        message.edns = EDNS(udpPayloadSize: 512)
        let bytes = DNSMessageWriter.serialize(message, limit: 512)
        #expect(bytes.count <= 512)
        let back = try DNSMessageParser.parse(bytes)
        #expect(back.truncated && back.answers.isEmpty && back.questions == message.questions && back.edns != nil)
    }

    @Test func caseIsIgnoredInComparisons() {
        #expect(DomainName("SIP.contoso.COM.") == DomainName("sip.contoso.com"))
        #expect(DomainName("a.sip.contoso.com")!.isSubdomain(of: DomainName("Contoso.Com")!))
        #expect(!DomainName("xcontoso.com")!.isSubdomain(of: DomainName("contoso.com")!))
        #expect(DomainName(String(repeating: "a", count: 64) + ".com") == nil)
        #expect(DomainName(Array(repeating: "abcdefghi", count: 30).joined(separator: ".")) == nil)
    }

    @Test func truncatedPacketsAreRejected() throws {
        var message = DNSMessage(id: 3)
        message.questions = [DNSQuestion(name: name, type: DNSType.a)]
        message.answers = [DNSRecord(name: name, ttl: 1, data: .srv(priority: 1, weight: 2, port: 3, target: name))]
        let bytes = DNSMessageWriter.serialize(message)
        for length in 0..<bytes.count {
            #expect(throws: DNSParseError.self) { _ = try DNSMessageParser.parse(Array(bytes.prefix(length))) }
        }
    }

    @Test func loopingAndForwardPointersAreRejected() {
        // Header with one question whose name is a pointer to itself.
        let header: [UInt8] = [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]
        #expect(throws: DNSParseError.self) { _ = try DNSMessageParser.parse(header + [0xC0, 12, 0, 1, 0, 1]) }
        // A label, then a pointer back to that label: a loop through earlier bytes of the same name.
        #expect(throws: DNSParseError.self) {
            _ = try DNSMessageParser.parse(header + [1, 0x61, 0xC0, 12, 0, 1, 0, 1])
        }
        // A pointer forward.
        #expect(throws: DNSParseError.self) {
            _ = try DNSMessageParser.parse(header + [0xC0, 20, 0, 1, 0, 1, 0, 0, 0, 0])
        }
        // Reserved label types.
        #expect(throws: DNSParseError.self) { _ = try DNSMessageParser.parse(header + [0x40, 0, 1, 0, 1]) }
        // An A record of five bytes.
        let record: [UInt8] = [0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 5, 1, 2, 3, 4, 5]
        #expect(throws: DNSParseError.self) {
            _ = try DNSMessageParser.parse([0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0] + record)
        }
    }

    @Test func headersOfQueriesOnlyAreAnswerable() {
        #expect(DNSMessageParser.header(of: [0xAB, 0xCD, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0])! == (0xABCD, 0, true))
        #expect(DNSMessageParser.header(of: [0xAB, 0xCD, 0x81, 0, 0, 1, 0, 0, 0, 0, 0, 0]) == nil)
        #expect(DNSMessageParser.header(of: [0xAB, 0xCD, 0x01]) == nil)
    }

    @Test func randomPacketsNeverCrash() {
        var generator = SystemRandomNumberGenerator()
        var valid = DNSMessage(id: 9)
        valid.questions = [DNSQuestion(name: name, type: DNSType.a)]
        valid.answers = [DNSRecord(name: name, ttl: 5, data: .mx(preference: 1, exchange: name))]
        let seed = DNSMessageWriter.serialize(valid)
        for round in 0..<20_000 {
            var bytes: [UInt8]
            if round % 2 == 0 {
                bytes = (0..<Int.random(in: 0...80, using: &generator)).map { _ in
                    UInt8.random(in: 0...255, using: &generator)
                }
            } else {
                bytes = seed
                for _ in 0..<Int.random(in: 1...4, using: &generator) {
                    bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(
                        in: 0...255, using: &generator)
                }
            }
            if let message = try? DNSMessageParser.parse(bytes) {
                // Whatever parses serialises again and parses to the same message.
                #expect((try? DNSMessageParser.parse(DNSMessageWriter.serialize(message))) == message)
            }
        }
    }
}
