import BallastCodecs

/// POP3 before login (RFC 1939, RFC 2449, RFC 5034): greeting, CAPA, NOOP, QUIT, STLS, USER
/// and PASS, AUTH PLAIN with or without an initial response; anything else is -ERR. Three
/// refused logins end the connection.
struct POP3Dialogue: MailDialogue {
    private enum State: Equatable {
        case commands
        /// `AUTH PLAIN` was answered `+`; the next line is the client's response.
        case saslResponse
        case loggingIn
        case done
    }

    static let maxFailures = 3
    let dialect = MailDialect.pop3
    /// Whether STLS may be offered (the relay has certificates).
    let tlsOffered: Bool
    /// Whether the connection runs TLS already (implicit, or after STLS).
    private(set) var tlsOn: Bool
    private var reader = POP3CommandReader()
    private var state = State.commands
    private var user: String?
    private var failures = 0

    /// A dialogue on a connection that has TLS (`tlsOn`) or may start it (`tlsOffered`).
    init(tlsOffered: Bool, tlsOn: Bool) {
        self.tlsOffered = tlsOffered
        self.tlsOn = tlsOn
    }

    let greeting = "+OK Ballast POP3 proxy ready."

    mutating func append(_ bytes: UnsafeRawBufferPointer) { reader.append(bytes) }

    mutating func next() -> MailStep? {
        switch state {
        case .loggingIn, .done:
            return nil
        case .saslResponse:
            let (line, tooLong) = reader.nextLine()
            if tooLong {
                state = .done
                return .close(last: nil, badInput: "SASL response over the length limit; closed")
            }
            guard let line else { return nil }
            state = .commands
            guard line != "*" else { return .send("-ERR Authentication aborted.") }
            guard let plain = SASLPlain.decode(line) else { return .send("-ERR Invalid SASL PLAIN response.") }
            return login(user: plain.user, password: plain.password)
        case .commands:
            switch reader.next() {
            case .incomplete:
                return nil
            case .tooLong:
                state = .done
                return .close(last: "-ERR Line too long.", badInput: "line over the length limit; closed")
            case .malformed(let reason):
                return .badInput(reason: "malformed command", detail: reason, answer: "-ERR \(reason).")
            case .command(let command):
                return handle(command)
            }
        }
    }

    private mutating func handle(_ command: POP3Command) -> MailStep {
        switch command.name {
        case "CAPA":
            var lines = ["+OK Capability list follows", "USER", "SASL PLAIN", "RESP-CODES", "AUTH-RESP-CODE"]
            if !tlsOn && tlsOffered { lines.append("STLS") }
            return .send((lines + ["."]).joined(separator: "\r\n"))
        case "NOOP":
            return .send("+OK")
        case "QUIT":
            state = .done
            return .close(last: "+OK Logging out.", badInput: nil)
        case "STLS":
            guard tlsOffered, !tlsOn else { return .send("-ERR STLS is not available here.") }
            reader = POP3CommandReader()
            tlsOn = true
            return .startTLS(accept: "+OK Begin TLS negotiation.")
        case "USER":
            guard !command.argument.isEmpty else { return .send("-ERR USER takes a name.") }
            user = command.argument
            return .send("+OK")
        case "PASS":
            guard let user else { return .send("-ERR USER first.") }
            return login(user: user, password: command.argument)
        case "AUTH":
            let parts = command.argument.split(separator: " ", maxSplits: 1).map(String.init)
            guard parts.first?.uppercased() == "PLAIN" else {
                return .send("-ERR [AUTH] Only AUTH PLAIN is supported.")
            }
            guard parts.count == 2 else {
                state = .saslResponse
                return .send("+ ")
            }
            guard let plain = SASLPlain.decode(parts[1]) else { return .send("-ERR Invalid SASL PLAIN response.") }
            return login(user: plain.user, password: plain.password)
        default:
            return .send("-ERR Log in first: \(command.name) is not valid before PASS.")
        }
    }

    private mutating func login(user: String, password: String) -> MailStep {
        state = .loggingIn
        return .login(user: user, password: password)
    }

    var leftover: [UInt8] { reader.buffered }

    mutating func loggedIn(serverLine: String) -> String {
        state = .done
        return serverLine
    }

    mutating func refused() -> MailStep {
        failures += 1
        user = nil
        let answer = "-ERR [AUTH] Authentication failed."
        guard failures < Self.maxFailures else {
            state = .done
            return .close(last: answer, badInput: nil)
        }
        state = .commands
        return .send(answer)
    }

    mutating func unavailable() -> String {
        state = .commands
        return "-ERR [SYS/TEMP] The mailbox is not available now; try again shortly."
    }

    var movedLine: String { "-ERR [SYS/TEMP] Your mailbox moved to another server; log in again." }
}
