import BallastCodecs
import Testing

/// The mail command readers: IMAP commands with quoted strings and literals, POP3 lines, SASL
/// PLAIN and base64; bounded, and never trapping on bytes that are not mail protocol.
struct MailCommandTests {
    private func commands(_ text: String, reader: inout IMAPCommandReader) -> [IMAPCommandReader.Outcome] {
        reader.append(Array(text.utf8))
        var out: [IMAPCommandReader.Outcome] = []
        for _ in 0..<50 {
            let next = reader.next()
            if next == .incomplete { break }
            out.append(next)
            if next == .tooLong { break }
        }
        return out
    }

    @Test func readsAtomsQuotedStringsAndSeveralCommandsAtOnce() {
        var reader = IMAPCommandReader()
        let out = commands(
            "a1 CAPABILITY\r\na2 login \"al\\\"ice\" \"p a\\\\ss\"\r\na3 ID (\"name\" \"x\")\nA4 NOOP\r\n",
            reader: &reader)
        #expect(
            out == [
                .command(IMAPCommand(tag: "a1", name: "CAPABILITY", arguments: [])),
                .command(IMAPCommand(tag: "a2", name: "LOGIN", arguments: ["al\"ice", "p a\\ss"])),
                .command(IMAPCommand(tag: "a3", name: "ID", arguments: ["(\"name\" \"x\")"])),
                .command(IMAPCommand(tag: "A4", name: "NOOP", arguments: [])),
            ])
    }

    @Test func synchronisingLiteralsAskForAContinuationOnce() {
        var reader = IMAPCommandReader()
        #expect(commands("a1 LOGIN {5}\r\n", reader: &reader) == [.continueLiteral(5)])
        #expect(reader.next() == .incomplete)
        #expect(commands("alice {3}\r\n", reader: &reader) == [.continueLiteral(3)])
        #expect(
            commands("pw!\r\n", reader: &reader) == [
                .command(IMAPCommand(tag: "a1", name: "LOGIN", arguments: ["alice", "pw!"]))
            ])
    }

    @Test func nonSynchronisingLiteralsNeedNoContinuation() {
        var reader = IMAPCommandReader()
        let out = commands("a1 LOGIN {5+}\r\nalice {4+}\r\nx\r\ny\r\n", reader: &reader)
        #expect(out == [.command(IMAPCommand(tag: "a1", name: "LOGIN", arguments: ["alice", "x\r\ny"]))])
    }

    @Test(arguments: [
        ("\r\n", "*"), ("a1\r\n", "a1"), ("a1 LOGIN \"open\r\n", "a1"), ("a1  NOOP\r\n", "a1"),
        ("a1 LOGIN (x\r\n", "a1"),
        ("+ NOOP\r\n", "*"),
    ])
    func malformedCommandsGetBADWithTheirTag(_ text: String, tag: String) {
        var reader = IMAPCommandReader()
        let out = commands(text, reader: &reader)
        guard case .malformed(let seen, _)? = out.first else {
            Issue.record("\(text.debugDescription) was read as \(out)")
            return
        }
        #expect(seen == tag)
    }

    @Test func overLongLinesAndLiteralsAreRefused() {
        var reader = IMAPCommandReader(maxLine: 100, maxLiteral: 50)
        #expect(commands(String(repeating: "a", count: 101), reader: &reader) == [.tooLong])
        var literal = IMAPCommandReader(maxLine: 100, maxLiteral: 50)
        #expect(commands("a1 LOGIN {51}\r\n", reader: &literal) == [.tooLong])
        var many = IMAPCommandReader(maxLine: 100, maxLiteral: 50)
        let chain = String(repeating: "{40+}\r\n" + String(repeating: "x", count: 40) + " ", count: 6)
        #expect(commands("a1 LOGIN " + chain, reader: &many) == [.tooLong])
    }

    @Test func randomBytesNeverTrapAndStayBounded() {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("a1 LOGIN{}\"\\()+*\r\n 05".utf8)
        for round in 0..<3000 {
            var reader = IMAPCommandReader(maxLine: 256, maxLiteral: 64)
            var pop = POP3CommandReader(maxLine: 256)
            for _ in 0..<4 {
                let bytes = (0..<Int.random(in: 0...200, using: &generator)).map { _ in
                    round % 2 == 0
                        ? UInt8.random(in: 0...255, using: &generator) : alphabet.randomElement(using: &generator)!
                }
                reader.append(bytes)
                pop.append(bytes)
                for _ in 0..<100 {
                    let outcome = reader.next()
                    if outcome == .incomplete || outcome == .tooLong { break }
                }
                for _ in 0..<100 {
                    let outcome = pop.next()
                    if outcome == .incomplete || outcome == .tooLong { break }
                }
                _ = SASLPlain.decode(String(decoding: bytes, as: UTF8.self))
                if reader.buffered.count > 256 + 64 + 8 || pop.buffered.count > 256 { break }
            }
            #expect(reader.buffered.count <= 2 * (256 + 64) + 200)
        }
    }

    @Test func pop3LinesAndTheirArguments() {
        var reader = POP3CommandReader()
        reader.append(Array("user alice@contoso.com\r\nPASS se cret\nCAPA\r\n\u{1}X\r\nSTAT".utf8))
        #expect(reader.next() == .command(POP3Command(name: "USER", argument: "alice@contoso.com")))
        #expect(reader.next() == .command(POP3Command(name: "PASS", argument: "se cret")))
        #expect(reader.next() == .command(POP3Command(name: "CAPA", argument: "")))
        guard case .malformed = reader.next() else {
            Issue.record("a control character was accepted")
            return
        }
        #expect(reader.next() == .incomplete)
        var long = POP3CommandReader(maxLine: 10)
        long.append(Array("USER abcdefghijk".utf8))
        #expect(long.next() == .tooLong)
    }

    @Test func saslPlainAndBase64RoundTrip() {
        let encoded = SASLPlain.encode(user: "alice", password: "pässword")
        #expect(SASLPlain.decode(encoded)?.user == "alice")
        #expect(SASLPlain.decode(encoded)?.password == "pässword")
        #expect(Base64.encode(Array("hello".utf8)) == "aGVsbG8=")
        #expect(Base64.decode("aGVsbG8=") == Array("hello".utf8))
        #expect(Base64.decode("aGVsbA==") == Array("hell".utf8))
        for bad in ["aGVsbG8", "a=Vs", "aGVs*G8=", "====", "AGFsaWNl"] {
            #expect(SASLPlain.decode(bad) == nil, "\(bad)")
        }
        for length in 0..<40 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255) }
            #expect(Base64.decode(Base64.encode(bytes)) == bytes)
        }
    }

    @Test func quotingForTheServerSurvivesReadingBack() {
        for value in ["plain", "with space", "quo\"te", "back\\slash", "line\r\nbreak", "ünï"] {
            var reader = IMAPCommandReader()
            reader.append(Array("t LOGIN \(IMAPCommandReader.quoted(value)) x\r\n".utf8))
            #expect(reader.next() == .command(IMAPCommand(tag: "t", name: "LOGIN", arguments: [value, "x"])))
        }
    }
}
