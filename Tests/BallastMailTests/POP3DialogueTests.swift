import BallastCodecs
import Testing

@testable import BallastMail

/// Ballast's side of POP3 before login, without a socket.
struct POP3DialogueTests {
    @Test func capaListsSTLSOnlyWhereItCanStart() {
        var offered = POP3Dialogue(tlsOffered: true, tlsOn: false)
        #expect(
            MailDialogueTests.steps(&offered, "CAPA\r\n")
                == [
                    .send(
                        "+OK Capability list follows\r\nUSER\r\nSASL PLAIN\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nSTLS\r\n."
                    )
                ])
        var on = POP3Dialogue(tlsOffered: true, tlsOn: true)
        #expect(
            MailDialogueTests.steps(&on, "CAPA\r\n").first.map {
                if case .send(let text) = $0 { !text.contains("STLS") } else { false }
            } == true)
        #expect(MailDialogueTests.steps(&on, "STLS\r\n") == [.send("-ERR STLS is not available here.")])
    }

    @Test func userThenPassAsksForALogin() {
        var dialogue = POP3Dialogue(tlsOffered: false, tlsOn: false)
        #expect(MailDialogueTests.steps(&dialogue, "PASS x\r\n") == [.send("-ERR USER first.")])
        #expect(MailDialogueTests.steps(&dialogue, "USER\r\n") == [.send("-ERR USER takes a name.")])
        #expect(
            MailDialogueTests.steps(&dialogue, "USER alice\r\nPASS pass word\r\nSTAT\r\n")
                == [.send("+OK"), .login(user: "alice", password: "pass word")])
        #expect(dialogue.leftover == Array("STAT\r\n".utf8))
        #expect(dialogue.loggedIn(serverLine: "+OK Logged in.") == "+OK Logged in.")
    }

    @Test func authPlainWithAndWithoutAnInitialResponse() {
        let response = SASLPlain.encode(user: "bob", password: "secret")
        var initial = POP3Dialogue(tlsOffered: false, tlsOn: false)
        #expect(
            MailDialogueTests.steps(&initial, "AUTH PLAIN \(response)\r\n") == [.login(user: "bob", password: "secret")]
        )
        var asked = POP3Dialogue(tlsOffered: false, tlsOn: false)
        #expect(
            MailDialogueTests.steps(&asked, "AUTH PLAIN\r\n\(response)\r\n") == [
                .send("+ "), .login(user: "bob", password: "secret"),
            ])
        var aborted = POP3Dialogue(tlsOffered: false, tlsOn: false)
        #expect(
            MailDialogueTests.steps(&aborted, "AUTH PLAIN\r\n*\r\n") == [
                .send("+ "), .send("-ERR Authentication aborted."),
            ])
        var other = POP3Dialogue(tlsOffered: false, tlsOn: false)
        #expect(
            MailDialogueTests.steps(&other, "AUTH LOGIN\r\n") == [.send("-ERR [AUTH] Only AUTH PLAIN is supported.")])
    }

    @Test func stlsDropsWhatWasPipelinedAfterIt() {
        var dialogue = POP3Dialogue(tlsOffered: true, tlsOn: false)
        #expect(
            MailDialogueTests.steps(&dialogue, "STLS\r\nUSER alice\r\n") == [
                .startTLS(accept: "+OK Begin TLS negotiation.")
            ])
        #expect(dialogue.leftover.isEmpty)
        #expect(MailDialogueTests.steps(&dialogue, "STLS\r\n") == [.send("-ERR STLS is not available here.")])
    }

    @Test func refusalsForgetTheUserAndThreeEndTheConnection() {
        var dialogue = POP3Dialogue(tlsOffered: false, tlsOn: false)
        for attempt in 1...3 {
            #expect(
                MailDialogueTests.steps(&dialogue, "USER alice\r\nPASS wrong\r\n") == [
                    .send("+OK"), .login(user: "alice", password: "wrong"),
                ])
            let expected: MailStep =
                attempt < 3
                ? .send("-ERR [AUTH] Authentication failed.")
                : .close(last: "-ERR [AUTH] Authentication failed.", badInput: nil)
            #expect(dialogue.refused() == expected)
            if attempt == 1 {
                #expect(MailDialogueTests.steps(&dialogue, "PASS again\r\n") == [.send("-ERR USER first.")])
            }
        }
    }

    @Test func quitUnavailableAndHostileInput() {
        var quit = POP3Dialogue(tlsOffered: false, tlsOn: false)
        #expect(MailDialogueTests.steps(&quit, "QUIT\r\n") == [.close(last: "+OK Logging out.", badInput: nil)])
        var unavailable = POP3Dialogue(tlsOffered: false, tlsOn: false)
        _ = MailDialogueTests.steps(&unavailable, "USER a\r\nPASS b\r\n")
        #expect(unavailable.unavailable().hasPrefix("-ERR [SYS/TEMP]"))
        #expect(MailDialogueTests.steps(&unavailable, "NOOP\r\n") == [.send("+OK")])
        var long = POP3Dialogue(tlsOffered: false, tlsOn: false)
        #expect(
            MailDialogueTests.steps(&long, String(repeating: "x", count: 2000))
                == [.close(last: "-ERR Line too long.", badInput: "line over the length limit; closed")])
        var control = POP3Dialogue(tlsOffered: false, tlsOn: false)
        #expect(
            MailDialogueTests.steps(&control, "US\u{1}ER a\r\n")
                == [
                    .badInput(
                        reason: "malformed command", detail: "control characters in a command",
                        answer: "-ERR control characters in a command.")
                ])
        var sasl = POP3Dialogue(tlsOffered: false, tlsOn: false)
        _ = MailDialogueTests.steps(&sasl, "AUTH PLAIN\r\n")
        #expect(
            MailDialogueTests.steps(&sasl, String(repeating: "A", count: 2000))
                == [.close(last: nil, badInput: "SASL response over the length limit; closed")])
    }
}
