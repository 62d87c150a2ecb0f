import BallastCodecs

/// Ballast's login at a mail server on the user's behalf, with the user's own credentials (the
/// way Dovecot's proxy does): read the greeting, then `LOGIN` (IMAP) or `USER` and `PASS`
/// (POP3). Pure: its connection feeds it the server's bytes and sends the lines it returns.
struct BackendLogin {
    /// What the connection does next.
    enum Step: Equatable {
        /// A line to send the server (without its CRLF).
        case send(String)
        /// Logged in; `finalLine` is the server's success line (IMAP: after the tag), for the client.
        case loggedIn(finalLine: String)
        /// The server refused the login, or did not speak the protocol; `line` is what it said.
        case refused(line: String)
    }

    private enum Stage {
        case greeting
        case imapLogin
        case pop3User
        case pop3Pass
        case done
    }

    static let tag = "BLST1"
    static let maxLine = 16_384
    private let dialect: MailDialect
    private let user: String
    private let password: String
    private var stage = Stage.greeting
    private var buffer: [UInt8] = []

    /// A login as `user` with `password` in `dialect`.
    init(dialect: MailDialect, user: String, password: String) {
        self.dialect = dialect
        self.user = user
        self.password = password
    }

    /// Bytes the server sent.
    mutating func append(_ bytes: UnsafeRawBufferPointer) { buffer.append(contentsOf: bytes) }

    /// The next step for the lines buffered; nil until more come, and after the result.
    mutating func next() -> Step? {
        while stage != .done {
            guard let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) else {
                guard buffer.count > Self.maxLine else { return nil }
                stage = .done
                return .refused(line: "an over-long line")
            }
            var end = newline
            if end > 0 && buffer[end - 1] == UInt8(ascii: "\r") { end -= 1 }
            let line = String(decoding: buffer[..<end], as: UTF8.self)
            buffer.removeFirst(newline + 1)
            if let step = answer(line) { return step }
        }
        return nil
    }

    /// Bytes the server sent after its success line, for the client.
    var leftover: [UInt8] { buffer }

    private mutating func answer(_ line: String) -> Step? {
        switch (dialect, stage) {
        case (.imap, .greeting):
            guard line.hasPrefix("* OK") else { return finish(.refused(line: line)) }
            stage = .imapLogin
            return .send("\(Self.tag) LOGIN \(IMAPCommandReader.quoted(user)) \(IMAPCommandReader.quoted(password))")
        case (.imap, .imapLogin):
            guard line.hasPrefix("\(Self.tag) ") else { return nil }  // untagged data before the result
            let result = String(line.dropFirst(Self.tag.count + 1))
            return finish(result.hasPrefix("OK") ? .loggedIn(finalLine: result) : .refused(line: result))
        case (.pop3, .greeting):
            guard line.hasPrefix("+OK") else { return finish(.refused(line: line)) }
            stage = .pop3User
            return .send("USER \(user)")
        case (.pop3, .pop3User):
            guard line.hasPrefix("+OK") else { return finish(.refused(line: line)) }
            stage = .pop3Pass
            return .send("PASS \(password)")
        case (.pop3, .pop3Pass):
            return finish(line.hasPrefix("+OK") ? .loggedIn(finalLine: line) : .refused(line: line))
        default:
            return nil
        }
    }

    private mutating func finish(_ step: Step) -> Step {
        stage = .done
        return step
    }
}
