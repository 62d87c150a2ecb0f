import BallastCore
import Testing

@testable import BallastCodecs

/// The SIP codec: RFC 3261 messages with folded, compact and comma-joined headers, stream
/// framing by Content-Length, and bytes that are not SIP.
struct SIPMessageTests {
    static let register = """
        REGISTER sip:lab.example SIP/2.0\r
        v: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bK776asdhds;rport, SIP/2.0/TCP proxy.lab.example;branch=z9hG4bK1\r
        Via: SIP/2.0/UDP 10.0.0.1\r
         ;branch=z9hG4bK2\r
        Max-Forwards: 70\r
        f: "Alice, A." <sip:alice@lab.example>;tag=456248\r
        t: <sip:alice@lab.example>\r
        i: 843817637684230@998sdasdh09\r
        CSeq: 1826 REGISTER\r
        m: <sip:alice@10.0.0.9:5060>;expires=60, "Desk" <sip:alice@10.0.0.9:5070;transport=tcp>;q=0.5\r
        Expires: 7200\r
        l: 4\r
        \r
        body
        """

    @Test func parsesCompactFoldedAndListHeaders() throws {
        let message = try SIPMessageParser.parse(datagram: Array(Self.register.utf8))
        #expect(message.startLine == .request(method: "REGISTER", uri: "sip:lab.example"))
        #expect(message.all("Via").count == 3)
        #expect(message.all("v") == message.all("Via"))
        #expect(message.all("Via")[2] == "SIP/2.0/UDP 10.0.0.1 ;branch=z9hG4bK2")
        #expect(SIPVia(message.all("Via")[2])?.branch == "z9hG4bK2")
        #expect(message.first("From") == "\"Alice, A.\" <sip:alice@lab.example>;tag=456248")
        #expect(message.callID == "843817637684230@998sdasdh09")
        #expect(message.cseq?.number == 1826 && message.cseq?.method == "REGISTER")
        #expect(message.all("Contact").count == 2)
        #expect(message.body == Array("body".utf8))
        let desk = try #require(SIPNameAddress(message.all("Contact")[1]))
        #expect(desk.displayName == "Desk")
        #expect(desk.parameter("q") == .some("0.5"))
        #expect(desk.sipURI?.parameter("transport") == .some("tcp"))
        #expect(SIPNameAddress(message.first("From")!)?.displayName == "Alice, A.")
    }

    @Test func writesWhatItReadsWithAMatchingContentLength() throws {
        let message = try SIPMessageParser.parse(datagram: Array(Self.register.utf8))
        let bytes = SIPMessageWriter.encode(message)
        let again = try SIPMessageParser.parse(datagram: bytes)
        #expect(again == message)
        #expect(String(decoding: bytes, as: UTF8.self).contains("Content-Length: 4\r\n\r\nbody"))
        #expect(
            String(decoding: bytes, as: UTF8.self).hasPrefix(
                "REGISTER sip:lab.example SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.9"))
    }

    @Test func responsesCopyTheDialogHeadersAndStampTheTopVia() throws {
        let request = try SIPMessageParser.parse(datagram: Array(Self.register.utf8))
        let response = SIPMessageWriter.response(
            to: request, status: 200, reason: "OK", toTag: "abc", sourceHost: "192.0.2.7", sourcePort: 40001)
        #expect(response.all("Via").count == 3)
        #expect(
            response.all("Via")[0] == "SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bK776asdhds;received=192.0.2.7;rport=40001"
        )
        #expect(response.all("Via")[1] == request.all("Via")[1])
        #expect(response.first("To") == "<sip:alice@lab.example>;tag=abc")
        #expect(response.first("From") == request.first("From"))
        #expect(response.first("CSeq") == "1826 REGISTER")
        // A To that has a tag keeps it.
        var tagged = request
        tagged.set("To", "<sip:alice@lab.example>;tag=kept")
        #expect(
            SIPMessageWriter.response(
                to: tagged, status: 200, reason: "OK", toTag: "new", sourceHost: "10.0.0.9", sourcePort: 5060
            )
            .first("To") == "<sip:alice@lab.example>;tag=kept")
        // Without rport and from the sent-by address, the Via is unchanged.
        let via = try #require(SIPVia("SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bK1"))
        #expect(
            via.stamped(sourceHost: "10.0.0.9", sourcePort: 5060).description
                == "SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bK1")
    }

    @Test func responsesParse() throws {
        let text =
            "SIP/2.0 301 Redirect request to Home Server\r\nContact: <sip:a>;q=0.7\r\nContact: <sip:b>;q=0.3\r\nContent-Length: 0\r\n\r\n"
        let message = try SIPMessageParser.parse(datagram: Array(text.utf8))
        #expect(message.startLine == .response(status: 301, reason: "Redirect request to Home Server"))
        #expect(message.all("Contact") == ["<sip:a>;q=0.7", "<sip:b>;q=0.3"])
    }

    @Test func streamsAreFramedByContentLength() throws {
        let one = Array("OPTIONS sip:x SIP/2.0\r\nContent-Length: 3\r\n\r\nabc".utf8)
        let two = Array("\r\n\r\nOPTIONS sip:y SIP/2.0\r\nl: 0\r\n\r\n".utf8)
        let both = one + two
        #expect(try SIPMessageParser.frameLength(both[...]) == one.count)
        #expect(try SIPMessageParser.frameLength(two[...]) == two.count)
        #expect(try SIPMessageParser.parse(frame: two[...]).startLine == .request(method: "OPTIONS", uri: "sip:y"))
        for cut in 0..<one.count {
            #expect(try SIPMessageParser.frameLength(one[..<cut]) == nil, "cut at \(cut)")
        }
        #expect(throws: SIPParseError.self) {
            try SIPMessageParser.frameLength(Array("OPTIONS sip:x SIP/2.0\r\nVia: x\r\n\r\n".utf8)[...])
        }
        #expect(throws: SIPParseError.self) {
            try SIPMessageParser.frameLength(
                Array(repeating: UInt8(ascii: "a"), count: SIPMessageParser.maxHeadSize + 1)[...])
        }
        #expect(throws: SIPParseError.self) {
            try SIPMessageParser.frameLength(Array("OPTIONS sip:x SIP/2.0\r\nContent-Length: 999999\r\n\r\n".utf8)[...])
        }
        #expect(SIPMessageParser.isKeepAlive(Array("\r\n\r\n".utf8)[...]))
        #expect(!SIPMessageParser.isKeepAlive([][...]))
    }

    /// Another SIP version is read, so that a registrar can answer it 505 rather than drop it.
    @Test func otherVersionsAreReadForA505() throws {
        let message = try SIPMessageParser.parse(
            datagram: Array("REGISTER sip:x SIP/3.0\r\nVia: SIP/3.0/UDP h\r\n\r\n".utf8))
        #expect(message.version == "SIP/3.0")
        #expect(try SIPMessageParser.parse(datagram: Array("OPTIONS sip:x SIP/2.0\r\n\r\n".utf8)).version == "SIP/2.0")
        for bad in [
            "REGISTER sip:x SIP/3\r\n\r\n", "REGISTER sip:x SIP/a.0\r\n\r\n", "REGISTER sip:x HTTP/1.1\r\n\r\n",
        ] {
            #expect(throws: SIPParseError.self) { try SIPMessageParser.parse(datagram: Array(bad.utf8)) }
        }
    }

    @Test func malformedMessagesAreRefusedWithAReason() {
        let cases = [
            "",
            "\r\n\r\n",
            "REGISTER sip:x SIP/2.0\r\nVia: x",
            "REGISTER  sip:x SIP/2.0\r\n\r\n",
            "REG(ISTER sip:x SIP/2.0\r\n\r\n",
            "REGISTER nocolon SIP/2.0\r\n\r\n",
            "SIP/2.0 99 Low\r\n\r\n",
            "SIP/2.0 700 High\r\n\r\n",
            "SIP/2.0 2000 OK\r\n\r\n",
            "HTTP/1.1 200 OK\r\n\r\n",
            "OPTIONS sip:x SIP/2.0\r\n folded: first\r\n\r\n",
            "OPTIONS sip:x SIP/2.0\r\nno colon here\r\n\r\n",
            "OPTIONS sip:x SIP/2.0\r\nBad Name: x\r\n\r\n",
            "OPTIONS sip:x SIP/2.0\r\nContent-Length: -1\r\n\r\n",
            "OPTIONS sip:x SIP/2.0\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
            "OPTIONS sip:x SIP/2.0\r\nContent-Length: 10\r\n\r\nshort",
            "OPTIONS sip:x SIP/2.0\r\nX: a\u{1}b\r\n\r\n",
        ]
        for text in cases {
            #expect(throws: SIPParseError.self, "\(text.debugDescription)") {
                try SIPMessageParser.parse(datagram: Array(text.utf8))
            }
        }
        #expect(throws: SIPParseError.self) {
            try SIPMessageParser.parse(
                datagram: Array("OPTIONS sip:x SIP/2.0\r\nX: ".utf8) + [0xC3, 0x28] + Array("\r\n\r\n".utf8))
        }
        let many = "OPTIONS sip:x SIP/2.0\r\n" + String(repeating: "X: y\r\n", count: 200) + "\r\n"
        #expect(throws: SIPParseError.self) { try SIPMessageParser.parse(datagram: Array(many.utf8)) }
    }

    @Test func randomAndMutatedBytesNeverCrashTheParsers() {
        var generator = SystemRandomNumberGenerator()
        let valid = Array(Self.register.utf8)
        var parsed = 0
        for round in 0..<20_000 {
            var bytes: [UInt8]
            if round % 3 == 0 {
                bytes = (0..<Int.random(in: 0...300, using: &generator)).map { _ in
                    UInt8.random(in: 0...255, using: &generator)
                }
            } else {
                bytes = valid
                for _ in 0..<Int.random(in: 1...6, using: &generator) {
                    let index = Int.random(in: 0..<bytes.count, using: &generator)
                    switch Int.random(in: 0...2, using: &generator) {
                    case 0: bytes[index] = UInt8.random(in: 0...255, using: &generator)
                    case 1: bytes.remove(at: index)
                    default:
                        bytes.insert(
                            [13, 10, 58, 59, 44, 34, 60, 62][Int.random(in: 0...7, using: &generator)], at: index)
                    }
                }
                if round % 7 == 0 { bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &generator))) }
            }
            if let message = try? SIPMessageParser.parse(datagram: bytes) {
                parsed += 1
                for via in message.all("Via") { _ = SIPVia(via)?.stamped(sourceHost: "1.2.3.4", sourcePort: 1) }
                for contact in message.all("Contact") { _ = SIPNameAddress(contact)?.sipURI }
                _ = SIPMessageWriter.encode(message)
            }
            _ = try? SIPMessageParser.frameLength(bytes[...])
        }
        #expect(parsed > 0)
    }

    /// The byte-level reader of the usual head (ASCII, nothing folded) and the general one give
    /// the same message, or the same error, for the same bytes: typical heads, mutated ones.
    @Test func theFastHeadReaderAgreesWithTheGeneralOne() {
        var generator = SystemRandomNumberGenerator()
        let unfolded = Array(
            """
            REGISTER sip:lab.example SIP/2.0\r
            v: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bK776;rport, SIP/2.0/TCP proxy.lab.example;branch=z9hG4bK1\r
            Max-Forwards:70\r
            f: "Alice, A." <sip:alice@lab.example>;tag=456248\r
            t:\t<sip:alice@lab.example> \r
            i: 843817637684230@998sdasdh09\r
            CSeq: 1826 REGISTER\r
            m: <sip:alice@10.0.0.9:5060;a=1,2>;expires=60, , "Desk \\" , x" <sip:alice@10.0.0.9:5070>;q=0.5,\r
            Authorization: Digest username="alice", realm="lab.example", nonce="abc", uri="sip:lab.example", response="0f"\r
            X-Custom: 1\r
            Content-Length: 0
            """.utf8)
        let alphabet = Array("aZ09\"\\,<>;:= \t@.".utf8)
        var compared = 0
        for round in 0..<20_000 {
            var bytes = round % 2 == 0 ? unfolded : Array(Self.register.utf8.prefix(while: { $0 != UInt8(ascii: "b") }))
            for _ in 0..<Int.random(in: 0...5, using: &generator) where !bytes.isEmpty {
                let index = Int.random(in: 0..<bytes.count, using: &generator)
                switch Int.random(in: 0...3, using: &generator) {
                case 0: bytes[index] = alphabet.randomElement(using: &generator)!
                case 1: bytes.remove(at: index)
                case 2: bytes.insert(contentsOf: [13, 10], at: index)
                default: bytes.insert(alphabet.randomElement(using: &generator)!, at: index)
                }
            }
            // Only heads that pass the control-character check reach either reader.
            let bareCR = bytes.indices.contains { bytes[$0] == 13 && ($0 + 1 == bytes.count || bytes[$0 + 1] != 10) }
            guard !bareCR else { continue }
            compared += 1
            let fast = Result { () throws(SIPParseError) in try SIPMessageParser.parseHead(bytes[...]) }
            let general = Result { () throws(SIPParseError) in try SIPMessageParser.parseHeadGeneral(bytes[...]) }
            #expect(fast == general, "\(String(decoding: bytes, as: UTF8.self))")
            if fast != general { break }
        }
        #expect(compared > 10_000)
    }

    @Test func urisAndAddressesParse() throws {
        let uri = try #require(SIPURI("sips:Alice@LAB.Example:5061;transport=tls;lr?subject=x"))
        #expect(uri.scheme == "sips" && uri.user == "Alice" && uri.host == "lab.example" && uri.port == 5061)
        #expect(uri.parameter("transport") == .some("tls"))
        #expect(uri.parameter("lr") == .some(nil))
        #expect(SIPURI("sip:[2001:db8::1]:5060")?.host == "[2001:db8::1]")
        #expect(SIPURI("sip:[2001:db8::1]:5060")?.port == 5060)
        for bad in ["http://x", "sip:", "sip:@x", "sip:x:port", "sip:x:70000", "sip:[::1", "nocolon"] {
            #expect(SIPURI(bad) == nil, "\(bad)")
        }
        let bare = try #require(SIPNameAddress("sip:bob@lab.example;tag=9"))
        #expect(bare.uri == "sip:bob@lab.example")
        #expect(bare.parameter("tag") == .some("9"))
        #expect(SIPNameAddress("\"unterminated <sip:x>") == nil)
        #expect(SIPNameAddress("<sip:x") == nil)
        #expect(SIPNameAddress("\"a \\\"quoted\\\" name\" <sip:x@y>")?.displayName == "a \"quoted\" name")
        #expect(SIPVia("SIP/2.0/UDP") == nil)
        #expect(SIPVia("SIP/3.0/UDP host") == nil)
        #expect(SIPVia("SIP/2.0/UDP host:99999") == nil)
        #expect(SIPVia("SIP/2.0/tls [::1]:5061;branch=z9hG4bKa")?.transport == "TLS")
    }

    @Test func digestHeadersParseAndRefuseOtherSchemes() throws {
        let header = try #require(
            DigestHeader(
                #"Digest username="alice", realm="lab.example", nonce="n, with comma", uri="sip:lab.example", response="abc", qop=auth, nc=00000001, cnonce="c""#
            ))
        #expect(header["username"] == "alice")
        #expect(header["nonce"] == "n, with comma")
        #expect(header["qop"] == "auth")
        #expect(DigestHeader("Basic YWxpY2U6c2VjcmV0") == nil)
        #expect(DigestHeader("Digest realm") == nil)
        #expect(DigestHeader(#"Digest realm="open"#) == nil)
        let challenge = DigestHeader.challenge(realm: "r", nonce: "n", algorithm: "SHA-256", stale: true)
        #expect(DigestHeader(challenge)?["stale"] == "true")
        #expect(DigestHeader(challenge)?["algorithm"] == "SHA-256")
    }

    /// The byte reader of Digest values and the general one agree, parameter by parameter and in
    /// refusing, on typical and mutated values (UTF-8 ones go to the general reader).
    @Test func theFastDigestReaderAgreesWithTheGeneralOne() {
        var generator = SystemRandomNumberGenerator()
        let typical = Array(
            #"Digest username="alice", realm="lab.example", nonce="n, "q" <x,y>", uri="sip:lab.example", response="abc", qop=auth, nc=00000001, cnonce="c", Algorithm=MD5, USERNAME=dup"#
                .utf8)
        let alphabet = Array("aZ09\"\\,<>=; \t".utf8)
        for round in 0..<20_000 {
            var bytes = round % 10 == 0 ? Array("  dIgEsT\trealm=x,,".utf8) : typical
            for _ in 0..<Int.random(in: 0...5, using: &generator) where !bytes.isEmpty {
                let index = Int.random(in: 0..<bytes.count, using: &generator)
                switch Int.random(in: 0...2, using: &generator) {
                case 0: bytes[index] = alphabet.randomElement(using: &generator)!
                case 1: bytes.remove(at: index)
                default: bytes.insert(alphabet.randomElement(using: &generator)!, at: index)
                }
            }
            let text = String(decoding: bytes, as: UTF8.self)
            let fast = DigestHeader(text)
            let general = DigestHeader(general: text)
            #expect(fast?.parameters == general?.parameters && (fast == nil) == (general == nil), "\(text)")
            if (fast == nil) != (general == nil) || fast?.parameters != general?.parameters { break }
        }
        #expect(DigestHeader(#"Digest username="zoë", realm="r""#)?["username"] == "zoë")
    }
}
