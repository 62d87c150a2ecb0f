import BallastCodecs

/// IMAP before login (RFC 9051, RFC 3501): greeting, CAPABILITY, ID, NOOP, LOGOUT, STARTTLS,
/// LOGIN and AUTHENTICATE PLAIN with or without an initial response; anything else is BAD.
/// Three refused logins end the connection, as Dovecot does.
struct IMAPDialogue: MailDialogue {
    private enum State: Equatable {
        case commands
        /// `AUTHENTICATE PLAIN` was answered `+`; the next line is the client's response.
        case saslResponse(tag: String)
        case loggingIn
        case done
    }

    static let maxFailures = 3
    let dialect = MailDialect.imap
    /// Whether STARTTLS may be offered (the relay has certificates).
    let tlsOffered: Bool
    /// Whether the connection runs TLS already (implicit, or after STARTTLS).
    private(set) var tlsOn: Bool
    private var reader = IMAPCommandReader()
    private var state = State.commands
    private var failures = 0
    private var loginTag = "*"

    /// A dialogue on a connection that has TLS (`tlsOn`) or may start it (`tlsOffered`).
    init(tlsOffered: Bool, tlsOn: Bool) {
        self.tlsOffered = tlsOffered
        self.tlsOn = tlsOn
    }

    private var capabilities: String {
        var list = ["IMAP4rev1", "SASL-IR", "LITERAL+", "ID", "AUTH=PLAIN"]
        if !tlsOn && tlsOffered { list.append("STARTTLS") }
        return list.joined(separator: " ")
    }

    var greeting: String { "* OK [CAPABILITY \(capabilities)] Ballast IMAP proxy ready." }

    mutating func append(_ bytes: UnsafeRawBufferPointer) { reader.append(bytes) }

    mutating func next() -> MailStep? {
        switch state {
        case .loggingIn, .done:
            return nil
        case .saslResponse(let tag):
            guard let line = takeLine() else {
                guard reader.buffered.count > reader.maxLine else { return nil }
                state = .done
                return .close(last: nil, badInput: "SASL response over the length limit; closed")
            }
            state = .commands
            if line == "*" { return .send("\(tag) BAD Authentication aborted by client.") }
            guard let plain = SASLPlain.decode(line) else { return .send("\(tag) BAD Invalid SASL PLAIN response.") }
            return login(tag: tag, user: plain.user, password: plain.password)
        case .commands:
            switch reader.next() {
            case .incomplete:
                return nil
            case .continueLiteral:
                return .send("+ OK")
            case .tooLong:
                state = .done
                return .close(last: "* BYE Command line too long.", badInput: "command over the length limit; closed")
            case .malformed(let tag, let reason):
                return .badInput(reason: "malformed command", detail: reason, answer: "\(tag) BAD \(reason).")
            case .command(let command):
                return handle(command)
            }
        }
    }

    private mutating func handle(_ command: IMAPCommand) -> MailStep {
        let tag = command.tag
        switch command.name {
        case "CAPABILITY":
            return .send("* CAPABILITY \(capabilities)\r\n\(tag) OK Pre-login capabilities listed.")
        case "NOOP":
            return .send("\(tag) OK NOOP completed.")
        case "ID":
            return .send("* ID (\"name\" \"Ballast\")\r\n\(tag) OK ID completed.")
        case "LOGOUT":
            state = .done
            return .close(last: "* BYE Logging out.\r\n\(tag) OK Logout completed.", badInput: nil)
        case "STARTTLS":
            guard tlsOffered, !tlsOn else { return .send("\(tag) BAD STARTTLS is not available here.") }
            reader = IMAPCommandReader()
            tlsOn = true
            return .startTLS(accept: "\(tag) OK Begin TLS negotiation now.")
        case "LOGIN":
            guard command.arguments.count == 2 else {
                return .send("\(tag) BAD LOGIN takes a user name and a password.")
            }
            return login(tag: tag, user: command.arguments[0], password: command.arguments[1])
        case "AUTHENTICATE":
            guard command.arguments.first?.uppercased() == "PLAIN" else {
                return .send("\(tag) NO [CANNOT] Only AUTHENTICATE PLAIN is supported.")
            }
            guard command.arguments.count > 1 else {
                state = .saslResponse(tag: tag)
                return .send("+ ")
            }
            guard let plain = SASLPlain.decode(command.arguments[1]) else {
                return .send("\(tag) BAD Invalid SASL PLAIN response.")
            }
            return login(tag: tag, user: plain.user, password: plain.password)
        default:
            return .send("\(tag) BAD Log in first: \(command.name) is not valid before LOGIN.")
        }
    }

    private mutating func login(tag: String, user: String, password: String) -> MailStep {
        state = .loggingIn
        loginTag = tag
        return .login(user: user, password: password)
    }

    /// The next line (a SASL response), bounded like a command.
    private mutating func takeLine() -> String? {
        let bytes = reader.buffered
        guard let newline = bytes.firstIndex(of: UInt8(ascii: "\n")), newline <= reader.maxLine else { return nil }
        var end = newline
        if end > 0 && bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        let line = String(decoding: bytes[..<end], as: UTF8.self)
        var rest = IMAPCommandReader()
        rest.append(bytes[(newline + 1)...])
        reader = rest
        return line
    }

    var leftover: [UInt8] { reader.buffered }

    mutating func loggedIn(serverLine: String) -> String {
        state = .done
        return "\(loginTag) \(serverLine)"
    }

    mutating func refused() -> MailStep {
        failures += 1
        let answer = "\(loginTag) NO [AUTHENTICATIONFAILED] Authentication failed."
        guard failures < Self.maxFailures else {
            state = .done
            return .close(last: "\(answer)\r\n* BYE Too many invalid login attempts.", badInput: nil)
        }
        state = .commands
        return .send(answer)
    }

    mutating func unavailable() -> String {
        state = .commands
        return "\(loginTag) NO [UNAVAILABLE] The mailbox is not available now; try again shortly."
    }

    var movedLine: String { "* BYE [UNAVAILABLE] Your mailbox moved to another server; log in again." }
}
