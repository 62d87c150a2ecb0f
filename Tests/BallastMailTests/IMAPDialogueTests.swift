import BallastCodecs
import Testing

@testable import BallastMail

/// Ballast's side of IMAP before login, without a socket: what each command gets, the login it
/// asks for, STARTTLS dropping what was pipelined after it, and the bounds on hostile input.
struct IMAPDialogueTests {
    /// Feeds `text` and collects steps until the dialogue waits.
    static func steps(_ dialogue: inout IMAPDialogue, _ text: String) -> [MailStep] {
        Array(text.utf8).withUnsafeBytes { dialogue.append($0) }
        var steps: [MailStep] = []
        while steps.count < 100, let step = dialogue.next() { steps.append(step) }
        return steps
    }

    @Test func theGreetingListsSTARTTLSOnlyWhereItCanStart() {
        #expect(IMAPDialogue(tlsOffered: true, tlsOn: false).greeting.contains("STARTTLS"))
        #expect(!IMAPDialogue(tlsOffered: true, tlsOn: true).greeting.contains("STARTTLS"))
        #expect(!IMAPDialogue(tlsOffered: false, tlsOn: false).greeting.contains("STARTTLS"))
        #expect(IMAPDialogue(tlsOffered: false, tlsOn: false).greeting.hasPrefix("* OK [CAPABILITY IMAP4rev1"))
    }

    @Test func preLoginCommandsAreAnsweredInOrder() {
        var dialogue = IMAPDialogue(tlsOffered: false, tlsOn: false)
        let steps = Self.steps(&dialogue, "a CAPABILITY\r\nb NOOP\r\nc ID (\"name\" \"x\")\r\nd SELECT INBOX\r\n")
        #expect(
            steps == [
                .send("* CAPABILITY IMAP4rev1 SASL-IR LITERAL+ ID AUTH=PLAIN\r\na OK Pre-login capabilities listed."),
                .send("b OK NOOP completed."), .send("* ID (\"name\" \"Ballast\")\r\nc OK ID completed."),
                .send("d BAD Log in first: SELECT is not valid before LOGIN."),
            ])
    }

    @Test func loginWaitsForItsOutcomeAndKeepsWhatCameAfter() {
        var dialogue = IMAPDialogue(tlsOffered: false, tlsOn: false)
        let steps = Self.steps(&dialogue, "a1 LOGIN alice \"pass word\"\r\na2 SELECT INBOX\r\n")
        #expect(steps == [.login(user: "alice", password: "pass word")])
        #expect(dialogue.next() == nil, "nothing is read while the login is checked")
        #expect(dialogue.leftover == Array("a2 SELECT INBOX\r\n".utf8))
        #expect(dialogue.loggedIn(serverLine: "OK Logged in") == "a1 OK Logged in")
    }

    @Test func literalsAreAskedForAndRead() {
        var dialogue = IMAPDialogue(tlsOffered: false, tlsOn: false)
        #expect(Self.steps(&dialogue, "a1 LOGIN {5}\r\n") == [.send("+ OK")])
        #expect(Self.steps(&dialogue, "alice {3}\r\n") == [.send("+ OK")])
        #expect(Self.steps(&dialogue, "abc\r\n") == [.login(user: "alice", password: "abc")])
    }

    @Test func authenticatePlainWithAndWithoutAnInitialResponse() {
        let response = SASLPlain.encode(user: "alice", password: "secret")
        var initial = IMAPDialogue(tlsOffered: false, tlsOn: false)
        #expect(
            Self.steps(&initial, "a AUTHENTICATE PLAIN \(response)\r\n")
                == [.login(user: "alice", password: "secret")])
        var asked = IMAPDialogue(tlsOffered: false, tlsOn: false)
        #expect(Self.steps(&asked, "a AUTHENTICATE PLAIN\r\n") == [.send("+ ")])
        #expect(Self.steps(&asked, "\(response)\r\n") == [.login(user: "alice", password: "secret")])
        var aborted = IMAPDialogue(tlsOffered: false, tlsOn: false)
        #expect(
            Self.steps(&aborted, "a AUTHENTICATE PLAIN\r\n*\r\nb AUTHENTICATE PLAIN bm90LXBsYWlu\r\n")
                == [
                    .send("+ "), .send("a BAD Authentication aborted by client."),
                    .send("b BAD Invalid SASL PLAIN response."),
                ])
        var other = IMAPDialogue(tlsOffered: false, tlsOn: false)
        #expect(
            Self.steps(&other, "a AUTHENTICATE CRAM-MD5\r\n")
                == [.send("a NO [CANNOT] Only AUTHENTICATE PLAIN is supported.")])
    }

    @Test func startTLSDropsWhatWasPipelinedAfterIt() {
        var dialogue = IMAPDialogue(tlsOffered: true, tlsOn: false)
        let steps = Self.steps(&dialogue, "a STARTTLS\r\nb LOGIN alice secret\r\n")
        #expect(steps == [.startTLS(accept: "a OK Begin TLS negotiation now.")])
        #expect(dialogue.leftover.isEmpty, "plain text after STARTTLS must not survive into TLS")
        #expect(Self.steps(&dialogue, "c STARTTLS\r\n") == [.send("c BAD STARTTLS is not available here.")])
        var without = IMAPDialogue(tlsOffered: false, tlsOn: false)
        #expect(Self.steps(&without, "a STARTTLS\r\n") == [.send("a BAD STARTTLS is not available here.")])
    }

    @Test func threeRefusalsEndTheConnection() {
        var dialogue = IMAPDialogue(tlsOffered: false, tlsOn: false)
        for attempt in 1...3 {
            #expect(
                Self.steps(&dialogue, "t\(attempt) LOGIN alice wrong\r\n") == [.login(user: "alice", password: "wrong")]
            )
            let answer = "t\(attempt) NO [AUTHENTICATIONFAILED] Authentication failed."
            let expected: MailStep =
                attempt < 3
                ? .send(answer) : .close(last: "\(answer)\r\n* BYE Too many invalid login attempts.", badInput: nil)
            #expect(dialogue.refused() == expected)
        }
        #expect(Self.steps(&dialogue, "x NOOP\r\n").isEmpty, "nothing is answered after the close")
    }

    @Test func anUnavailableMailboxLetsTheClientTryAgain() {
        var dialogue = IMAPDialogue(tlsOffered: false, tlsOn: false)
        _ = Self.steps(&dialogue, "a LOGIN alice secret\r\n")
        #expect(dialogue.unavailable() == "a NO [UNAVAILABLE] The mailbox is not available now; try again shortly.")
        #expect(Self.steps(&dialogue, "b NOOP\r\n") == [.send("b OK NOOP completed.")])
    }

    @Test func logoutAndHostileInput() {
        var logout = IMAPDialogue(tlsOffered: false, tlsOn: false)
        #expect(
            Self.steps(&logout, "z LOGOUT\r\n") == [
                .close(last: "* BYE Logging out.\r\nz OK Logout completed.", badInput: nil)
            ])
        var long = IMAPDialogue(tlsOffered: false, tlsOn: false)
        #expect(
            Self.steps(&long, String(repeating: "x", count: 10_000))
                == [.close(last: "* BYE Command line too long.", badInput: "command over the length limit; closed")])
        var malformed = IMAPDialogue(tlsOffered: false, tlsOn: false)
        let steps = Self.steps(&malformed, "\r\na LOGIN {-1}\r\n")
        #expect(steps.count == 2 && steps.allSatisfy { if case .badInput = $0 { true } else { false } }, "\(steps)")
        var sasl = IMAPDialogue(tlsOffered: false, tlsOn: false)
        _ = Self.steps(&sasl, "a AUTHENTICATE PLAIN\r\n")
        #expect(
            Self.steps(&sasl, String(repeating: "A", count: 10_000))
                == [.close(last: nil, badInput: "SASL response over the length limit; closed")])
    }

    @Test func randomBytesNeverLoopOrGrowWithoutBound() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            var dialogue = IMAPDialogue(tlsOffered: true, tlsOn: false)
            let bytes = (0..<Int.random(in: 1...3000, using: &generator)).map { _ in
                UInt8.random(in: 0...255, using: &generator)
            }
            bytes.withUnsafeBytes { dialogue.append($0) }
            var count = 0
            while count < 5000, dialogue.next() != nil { count += 1 }
            #expect(count < 5000)
            #expect(dialogue.leftover.count <= 3000)
        }
    }
}
