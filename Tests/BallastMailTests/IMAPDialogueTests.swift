import BallastCodecs
import Testing

@testable import BallastMail

/// Ballast's side of IMAP before login, without a socket: what each command gets, the login it
/// asks for, STARTTLS dropping what was pipelined after it, and the bounds on hostile input.
struct IMAPDialogueTests {
    @Test func theGreetingListsSTARTTLSOnlyWhereItCanStart() {
        #expect(IMAPDialogue(tlsOffered: true, tlsOn: false).greeting.contains("STARTTLS"))
        #expect(!IMAPDialogue(tlsOffered: true, tlsOn: true).greeting.contains("STARTTLS"))
        #expect(!IMAPDialogue(tlsOffered: false, tlsOn: false).greeting.contains("STARTTLS"))
        #expect(IMAPDialogue(tlsOffered: false, tlsOn: false).greeting.hasPrefix("* OK [CAPABILITY IMAP4rev1"))
    }

    @Test func preLoginCommandsAreAnsweredInOrder() {
        var dialogue = IMAPDialogue(tlsOffered: false, tlsOn: false)
        let steps = MailDialogueTests.steps(
            &dialogue, "a CAPABILITY\r\nb NOOP\r\nc ID (\"name\" \"x\")\r\nd SELECT INBOX\r\n")
        #expect(
            steps == [
                .send("* CAPABILITY IMAP4rev1 SASL-IR LITERAL+ ID AUTH=PLAIN\r\na OK Pre-login capabilities listed."),
                .send("b OK NOOP completed."), .send("* ID (\"name\" \"Ballast\")\r\nc OK ID completed."),
                .send("d BAD Log in first: SELECT is not valid before LOGIN."),
            ])
    }

    @Test func loginWaitsForItsOutcomeAndKeepsWhatCameAfter() {
        var dialogue = IMAPDialogue(tlsOffered: false, tlsOn: false)
        let steps = MailDialogueTests.steps(&dialogue, "a1 LOGIN alice \"pass word\"\r\na2 SELECT INBOX\r\n")
        #expect(steps == [.login(user: "alice", password: "pass word")])
        #expect(dialogue.next() == nil, "nothing is read while the login is checked")
        #expect(dialogue.leftover == Array("a2 SELECT INBOX\r\n".utf8))
        #expect(dialogue.loggedIn(serverLine: "OK Logged in") == "a1 OK Logged in")
    }

    @Test func literalsAreAskedForAndRead() {
        var dialogue = IMAPDialogue(tlsOffered: false, tlsOn: false)
        #expect(MailDialogueTests.steps(&dialogue, "a1 LOGIN {5}\r\n") == [.send("+ OK")])
        #expect(MailDialogueTests.steps(&dialogue, "alice {3}\r\n") == [.send("+ OK")])
        #expect(MailDialogueTests.steps(&dialogue, "abc\r\n") == [.login(user: "alice", password: "abc")])
    }

    @Test func authenticatePlainWithAndWithoutAnInitialResponse() {
        let response = SASLPlain.encode(user: "alice", password: "secret")
        var initial = IMAPDialogue(tlsOffered: false, tlsOn: false)
        #expect(
            MailDialogueTests.steps(&initial, "a AUTHENTICATE PLAIN \(response)\r\n")
                == [.login(user: "alice", password: "secret")])
        var asked = IMAPDialogue(tlsOffered: false, tlsOn: false)
        #expect(MailDialogueTests.steps(&asked, "a AUTHENTICATE PLAIN\r\n") == [.send("+ ")])
        #expect(MailDialogueTests.steps(&asked, "\(response)\r\n") == [.login(user: "alice", password: "secret")])
        var aborted = IMAPDialogue(tlsOffered: false, tlsOn: false)
        #expect(
            MailDialogueTests.steps(&aborted, "a AUTHENTICATE PLAIN\r\n*\r\nb AUTHENTICATE PLAIN bm90LXBsYWlu\r\n")
                == [
                    .send("+ "), .send("a BAD Authentication aborted by client."),
                    .send("b BAD Invalid SASL PLAIN response."),
                ])
        var other = IMAPDialogue(tlsOffered: false, tlsOn: false)
        #expect(
            MailDialogueTests.steps(&other, "a AUTHENTICATE CRAM-MD5\r\n")
                == [.send("a NO [CANNOT] Only AUTHENTICATE PLAIN is supported.")])
    }

    @Test func startTLSDropsWhatWasPipelinedAfterIt() {
        var dialogue = IMAPDialogue(tlsOffered: true, tlsOn: false)
        let steps = MailDialogueTests.steps(&dialogue, "a STARTTLS\r\nb LOGIN alice secret\r\n")
        #expect(steps == [.startTLS(accept: "a OK Begin TLS negotiation now.")])
        #expect(dialogue.leftover.isEmpty, "plain text after STARTTLS must not survive into TLS")
        #expect(
            MailDialogueTests.steps(&dialogue, "c STARTTLS\r\n") == [.send("c BAD STARTTLS is not available here.")])
        var without = IMAPDialogue(tlsOffered: false, tlsOn: false)
        #expect(MailDialogueTests.steps(&without, "a STARTTLS\r\n") == [.send("a BAD STARTTLS is not available here.")])
    }

    @Test func threeRefusalsEndTheConnection() {
        var dialogue = IMAPDialogue(tlsOffered: false, tlsOn: false)
        for attempt in 1...3 {
            #expect(
                MailDialogueTests.steps(&dialogue, "t\(attempt) LOGIN alice wrong\r\n") == [
                    .login(user: "alice", password: "wrong")
                ]
            )
            let answer = "t\(attempt) NO [AUTHENTICATIONFAILED] Authentication failed."
            let expected: MailStep =
                attempt < 3
                ? .send(answer) : .close(last: "\(answer)\r\n* BYE Too many invalid login attempts.", badInput: nil)
            #expect(dialogue.refused() == expected)
        }
        #expect(MailDialogueTests.steps(&dialogue, "x NOOP\r\n").isEmpty, "nothing is answered after the close")
    }

    @Test func anUnavailableMailboxLetsTheClientTryAgain() {
        var dialogue = IMAPDialogue(tlsOffered: false, tlsOn: false)
        _ = MailDialogueTests.steps(&dialogue, "a LOGIN alice secret\r\n")
        #expect(dialogue.unavailable() == "a NO [UNAVAILABLE] The mailbox is not available now; try again shortly.")
        #expect(MailDialogueTests.steps(&dialogue, "b NOOP\r\n") == [.send("b OK NOOP completed.")])
    }

    @Test func logoutAndHostileInput() {
        var logout = IMAPDialogue(tlsOffered: false, tlsOn: false)
        #expect(
            MailDialogueTests.steps(&logout, "z LOGOUT\r\n") == [
                .close(last: "* BYE Logging out.\r\nz OK Logout completed.", badInput: nil)
            ])
        var long = IMAPDialogue(tlsOffered: false, tlsOn: false)
        #expect(
            MailDialogueTests.steps(&long, String(repeating: "x", count: 10_000))
                == [.close(last: "* BYE Command line too long.", badInput: "command over the length limit; closed")])
        var malformed = IMAPDialogue(tlsOffered: false, tlsOn: false)
        let steps = MailDialogueTests.steps(&malformed, "\r\na LOGIN {-1}\r\n")
        #expect(steps.count == 2 && steps.allSatisfy { if case .badInput = $0 { true } else { false } }, "\(steps)")
        var sasl = IMAPDialogue(tlsOffered: false, tlsOn: false)
        _ = MailDialogueTests.steps(&sasl, "a AUTHENTICATE PLAIN\r\n")
        #expect(
            MailDialogueTests.steps(&sasl, String(repeating: "A", count: 10_000))
                == [.close(last: nil, badInput: "SASL response over the length limit; closed")])
    }
}
