import Testing

@testable import BallastMail

/// Ballast's login at a mail server on the user's behalf, without a socket.
struct BackendLoginTests {
    static func steps(_ login: inout BackendLogin, _ text: String) -> [BackendLogin.Step] {
        Array(text.utf8).withUnsafeBytes { login.append($0) }
        var steps: [BackendLogin.Step] = []
        while steps.count < 100, let step = login.next() { steps.append(step) }
        return steps
    }

    @Test func imapLogsInWithQuotedCredentialsAndSkipsUntaggedLines() {
        var login = BackendLogin(dialect: .imap, user: "alice", password: "pa\"ss")
        #expect(Self.steps(&login, "* OK ready\r\n") == [.send("BLST1 LOGIN \"alice\" \"pa\\\"ss\"")])
        #expect(
            Self.steps(&login, "* CAPABILITY IMAP4rev1\r\nBLST1 OK [CAPABILITY IMAP4rev1] Logged in\r\n* 1 EXISTS\r\n")
                == [.loggedIn(finalLine: "OK [CAPABILITY IMAP4rev1] Logged in")])
        #expect(login.leftover == Array("* 1 EXISTS\r\n".utf8), "what follows the success is the client's")
    }

    @Test func imapRefusalsAndStrangers() {
        var refused = BackendLogin(dialect: .imap, user: "a", password: "b")
        _ = Self.steps(&refused, "* OK\r\n")
        #expect(
            Self.steps(&refused, "BLST1 NO [AUTHENTICATIONFAILED] no\r\n") == [
                .refused(line: "NO [AUTHENTICATIONFAILED] no")
            ])
        var notIMAP = BackendLogin(dialect: .imap, user: "a", password: "b")
        #expect(Self.steps(&notIMAP, "SSH-2.0-OpenSSH\r\n") == [.refused(line: "SSH-2.0-OpenSSH")])
    }

    @Test func pop3SendsUserThenPass() {
        var login = BackendLogin(dialect: .pop3, user: "bob", password: "secret")
        #expect(Self.steps(&login, "+OK POP3 ready\r\n") == [.send("USER bob")])
        #expect(Self.steps(&login, "+OK\r\n") == [.send("PASS secret")])
        #expect(Self.steps(&login, "+OK Logged in.\r\n") == [.loggedIn(finalLine: "+OK Logged in.")])
        var refused = BackendLogin(dialect: .pop3, user: "bob", password: "secret")
        #expect(
            Self.steps(&refused, "+OK\n-ERR no such user\n") == [
                .send("USER bob"), .refused(line: "-ERR no such user"),
            ])
    }

    @Test func anOverLongLineIsARefusal() {
        var login = BackendLogin(dialect: .imap, user: "a", password: "b")
        #expect(
            Self.steps(&login, String(repeating: "x", count: BackendLogin.maxLine + 1))
                == [.refused(line: "an over-long line")])
        #expect(Self.steps(&login, "* OK\r\n").isEmpty, "nothing after the result")
    }
}
