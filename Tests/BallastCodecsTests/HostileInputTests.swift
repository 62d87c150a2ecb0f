import BallastCodecs
import BallastCore
import BallastTestSupport
import Foundation
import Testing

/// Every codec fed what an attacker would send: each valid example truncated at every length,
/// every number in it replaced by a negative, huge or past-64-bit one, damaged at random, and
/// random bytes. Nothing may trap; readers that buffer stay within their limits. A trap ends
/// the test process, so that these tests fail loudly rather than by an expectation.
@Suite struct HostileInputTests {
    @Test(arguments: [1, 2, 3])
    func imapCommandsNeverTrap(seed: UInt64) {
        var mutator = Mutator(seed: seed)
        let seeds = [
            "a1 LOGIN {5}\r\nalice {7}\r\nsecret!\r\n", "a1 LOGIN {5+}\r\nalice {3+}\r\npw!\r\n",
            "a2 LOGIN \"al\\\"ice\" \"p w\"\r\n", "a3 ID (\"name\" \"x\" (\"a\" \"b\"))\r\n",
            "a4 AUTHENTICATE PLAIN AGFsaWNlAHB3\r\n",
            "a1 LOGIN {-1}\r\n", "a1 LOGIN {9223372036854775807}\r\n", "a1 LOGIN x {12}\r\n",
            "t LOGIN {4}\nab\r\n x\r\n",
        ]
        for input in mutator.corpus(seeds.map { Array($0.utf8) }) {
            // Whole, then split at a point chosen from the input, as TCP may deliver it.
            var whole = IMAPCommandReader(maxLine: 1024, maxLiteral: 1024)
            whole.append(input)
            drain(&whole)
            #expect(whole.buffered.count <= input.count)
            var split = IMAPCommandReader(maxLine: 1024, maxLiteral: 1024)
            let cut = input.isEmpty ? 0 : mutator.below(input.count)
            split.append(input[..<cut])
            drain(&split)
            split.append(input[cut...])
            drain(&split)
        }
    }

    @Test func imapLiteralsWithSignsAndHugeSizesAreRefused() {
        for line in [
            "a1 LOGIN {-1}\r\n", "a1 LOGIN {9223372036854775807}\r\n", "a1 LOGIN {18446744073709551616}\r\n",
            "a1 LOGIN {-9223372036854775808}\r\nx\r\n", "a1 LOGIN {+}\r\n", "a1 LOGIN {1-}\r\nx\r\n",
        ] {
            var reader = IMAPCommandReader()
            reader.append(Array(line.utf8))
            guard case .malformed(let tag, _) = reader.next() else {
                Issue.record("\(line.debugDescription) was not refused as malformed")
                continue
            }
            #expect(tag == "a1")
        }
        var huge = IMAPCommandReader(maxLine: 1024, maxLiteral: 1024)
        huge.append(Array("a1 LOGIN {999999999}\r\n".utf8))
        #expect(huge.next() == .tooLong)
    }

    private func drain(_ reader: inout IMAPCommandReader) {
        for _ in 0..<64 {
            switch reader.next() {
            case .incomplete, .tooLong: return
            case .command, .malformed, .continueLiteral: continue
            }
        }
    }

    @Test(arguments: [1, 2])
    func pop3AndSASLNeverTrap(seed: UInt64) {
        var mutator = Mutator(seed: seed)
        let seeds = ["USER alice\r\nPASS secret\r\n", "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n", "CAPA\nSTLS\r\nQUIT\r\n"]
        for input in mutator.corpus(seeds.map { Array($0.utf8) }) {
            var reader = POP3CommandReader()
            reader.append(input)
            for _ in 0..<64 {
                if case .incomplete = reader.next() { break }
                if case .tooLong = reader.next() { break }
            }
            _ = reader.nextLine()
            let text = String(decoding: input, as: UTF8.self)
            _ = SASLPlain.decode(text)
            _ = Base64.decode(text)
        }
    }

    @Test(arguments: [1, 2, 3])
    func dnsMessagesNeverTrap(seed: UInt64) {
        var mutator = Mutator(seed: seed)
        var query = DNSMessage(id: 0x1234)
        query.questions = [DNSQuestion(name: DomainName("_sip._tls.contoso.com")!, type: DNSType.srv)]
        query.edns = EDNS(udpPayloadSize: 1232, dnssecOK: true)
        var answer = query
        answer.isResponse = true
        let target = DomainName("pool01.contoso.com")!
        answer.answers = [
            DNSRecord(
                name: query.questions[0].name, ttl: 30, data: .srv(priority: 0, weight: 5, port: 5061, target: target)),
            DNSRecord(name: target, ttl: 30, data: .txt([Array("v=spf1 -all".utf8)])),
            DNSRecord(
                name: target, ttl: 30,
                data: .soa(
                    primary: target, mailbox: target, serial: 2026_1121_01, refresh: 1, retry: 2, expire: 3, minimum: 4)
            ),
        ]
        answer.additionals = [DNSRecord(name: target, ttl: 30, data: .a(IPAddress("10.0.0.1")!))]
        let seeds = [DNSMessageWriter.serialize(query), DNSMessageWriter.serialize(answer)]
        for input in mutator.corpus(seeds, damage: 1000) {
            _ = try? DNSMessageParser.parse(input)
            _ = DNSMessageParser.header(of: input)
        }
        // Counts of 65,535 with nothing behind them, and a pointer to itself.
        let counts: [UInt8] = [0, 1, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]
        #expect(throws: DNSParseError.self) { try DNSMessageParser.parse(counts) }
        let loop: [UInt8] = [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1]
        #expect(throws: DNSParseError.self) { try DNSMessageParser.parse(loop) }
    }

    static let register = """
        REGISTER sip:contoso.com SIP/2.0\r
        Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bK776asdhds;rport\r
        Max-Forwards: 70\r
        To: <sip:alice@contoso.com>\r
        From: "Alice" <sip:alice@contoso.com>;tag=1928301774\r
        Call-ID: a84b4c76e66710@pc33\r
        CSeq: 314159 REGISTER\r
        Contact: <sip:alice@10.0.0.9:5060;transport=udp>;expires=3600;q=0.7\r
        Authorization: Digest username="alice", realm="contoso.com", nonce="0123abcd", uri="sip:contoso.com", response="00ff", algorithm=MD5, qop=auth, nc=00000001, cnonce="x"\r
        Expires: 3600\r
        Content-Length: 4\r
        \r
        abcd
        """

    @Test(arguments: [1, 2, 3])
    func sipMessagesNeverTrap(seed: UInt64) {
        var mutator = Mutator(seed: seed)
        let folded = Self.register.replacingOccurrences(of: "Max-Forwards: 70\r\n", with: "Max-Forwards:\r\n 70\r\n")
        let seeds = [Self.register, folded, "SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n", "OPTIONS sip:x SIP/2.0\n\n"]
        for input in mutator.corpus(seeds.map { Array($0.utf8) }, damage: 600) {
            if let message = try? SIPMessageParser.parse(datagram: input) {
                inspect(message)
            }
            if let length = try? SIPMessageParser.frameLength(input[...]) {
                #expect(length <= input.count)
                if let message = try? SIPMessageParser.parse(frame: input[..<length]) { inspect(message) }
            }
            _ = SIPMessageParser.isKeepAlive(input[...])
        }
    }

    /// Reads every header value the registrar reads, the way it reads them.
    private func inspect(_ message: SIPMessage) {
        _ = message.cseq
        _ = message.callID
        _ = message.method
        for header in message.headers {
            _ = SIPVia(header.value)
            _ = SIPNameAddress(header.value).flatMap { SIPURI($0.uri) }
            _ = DigestHeader(header.value)
            _ = SIPSyntax.parameters(Substring(header.value))
            _ = SIPSyntax.unquote(Substring(header.value))
            _ = SIPSyntax.splitList(Substring(header.value))
        }
    }

    @Test(arguments: [1, 2])
    func sipHeaderValuesNeverTrap(seed: UInt64) {
        var mutator = Mutator(seed: seed)
        let seeds = [
            "SIP/2.0/TLS [2001:db8::1]:5061;branch=z9hG4bK1;received=10.0.0.1;rport=5061",
            "\"A \\\"B\\\"\" <sips:alice:pw@[::1]:5061;transport=tls;lr?subject=x>;tag=9;expires=60;q=0.5",
            "Digest username=\"alice@contoso.com\", realm=\"contoso.com\", nonce=\"abc\", uri=\"sip:contoso.com\", response=\"0f\", algorithm=SHA-256, qop=auth, nc=0000000a, cnonce=\"c\"",
        ]
        for text in mutator.textCorpus(seeds, damage: 800) {
            _ = SIPVia(text)
            _ = SIPURI(text)
            _ = SIPNameAddress(text)
            _ = DigestHeader(text)
            _ = SIPSyntax.parameters(Substring(text))
            _ = SIPSyntax.unquote(Substring(text))
            _ = SIPSyntax.splitList(Substring(text))
        }
    }

    @Test(arguments: [1, 2, 3])
    func proxyHeadersNeverTrap(seed: UInt64) {
        var mutator = Mutator(seed: seed)
        let v4 = ProxyHeader(
            source: Endpoint(address: IPAddress("192.0.2.1")!, port: 51000),
            destination: Endpoint(address: IPAddress("192.0.2.2")!, port: 443))
        let v6 = ProxyHeader(
            source: Endpoint(address: IPAddress("2001:db8::1")!, port: 1),
            destination: Endpoint(address: IPAddress("::1")!, port: 2))
        var withTLV = v4
        withTLV.extensions = [ProxyHeader.Extension(type: 0x20, value: [1, 2, 3, 4, 5])]
        let seeds = [
            v4.encoded(as: .v1), v6.encoded(as: .v1), v4.encoded(as: .v2), v6.encoded(as: .v2),
            withTLV.encoded(as: .v2),
            Array("PROXY UNKNOWN\r\n".utf8),
        ]
        for input in mutator.corpus(seeds, damage: 800) {
            if case .header(_, _, let consumed) = ProxyHeader.parse(input) {
                #expect(consumed <= input.count)
            }
        }
    }

    @Test func proxyV2LengthsPastTheLimitAreRefused() {
        var header = ProxyHeader(
            source: Endpoint(address: IPAddress("192.0.2.1")!, port: 1),
            destination: Endpoint(address: IPAddress("192.0.2.2")!, port: 2)
        ).encoded(as: .v2)
        header[14] = 0xFF
        header[15] = 0xFF
        guard case .invalid = ProxyHeader.parse(header) else {
            Issue.record("a PROXY v2 header announcing 65,535 bytes was not refused")
            return
        }
    }

    @Test(arguments: [1, 2])
    func httpCredentialsCookiesAndCSVNeverTrap(seed: UInt64) {
        var mutator = Mutator(seed: seed)
        let seeds = [
            "Basic YWxpY2U6c2VjcmV0", "SRV=abc; other=\"q;u\"; SRV=def",
            "sip_uri,password,home_pool\r\n\"a,b\",\"x\"\"y\",pool01\r\n",
        ]
        for text in mutator.textCorpus(seeds, damage: 600) {
            _ = DirectoryLogin.basicCredentials(text)
            _ = CookieHeader.value(named: "SRV", in: text)
            _ = CookieHeader.removing(named: "SRV", from: text)
            _ = try? CSV.parse(text, maxRecords: 100)
        }
    }

    @Test(arguments: [1, 2])
    func noncesNeverTrap(seed: UInt64) {
        var mutator = Mutator(seed: seed)
        let signer = NonceSigner(key: Array(repeating: 7, count: 32))
        let now: UInt64 = 1_800_000_000_000
        let good = signer.issue(now: now)
        #expect(signer.verify(good, now: now, lifetime: 30_000) == .fresh(issuedAt: now))
        for text in mutator.textCorpus([good], damage: 1000) where text != good {
            #expect(signer.verify(text, now: now, lifetime: 30_000) != .fresh(issuedAt: now))
            _ = signer.verify(text, now: 0, lifetime: .max)
            _ = signer.verify(text, now: .max, lifetime: 0)
        }
    }
}
