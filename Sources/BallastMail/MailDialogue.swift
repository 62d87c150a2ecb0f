/// The mail protocol a relay speaks.
enum MailDialect: Sendable {
    case imap
    case pop3
}

/// What a mail relay's pre-login dialogue asks its connection to do next.
enum MailStep: Equatable, Sendable {
    /// Lines to send the client, CRLF between them and none after the last.
    case send(String)
    /// Bad input to count and log under `reason`, then `answer` to send.
    case badInput(reason: String, detail: String?, answer: String)
    /// `accept` to send, then TLS from the client's next byte. Commands the client pipelined
    /// after STARTTLS or STLS are dropped (the CVE-2011-0411 class).
    case startTLS(accept: String)
    /// Check the credentials and log in at the user's server; the dialogue waits for the outcome.
    case login(user: String, password: String)
    /// `last` to send, if any, then close; `badInput` names the reason when the client is to blame.
    case close(last: String?, badInput: String?)
}

/// The pre-login half of an IMAP or POP3 session, spoken by Ballast itself: greeting,
/// capabilities, STARTTLS or STLS, and the login commands. Pure: its connection feeds it the
/// client's bytes and carries out the steps it returns.
protocol MailDialogue {
    /// IMAP or POP3.
    var dialect: MailDialect { get }
    /// The first line a client reads.
    var greeting: String { get }
    /// Bytes the client sent.
    mutating func append(_ bytes: UnsafeRawBufferPointer)
    /// The next step for the bytes buffered; nil until more bytes come, or while a login or
    /// the dialogue's end waits.
    mutating func next() -> MailStep?
    /// Bytes the client sent after its login command, for the server.
    var leftover: [UInt8] { get }
    /// The server accepted the login: the client's answer, made from the server's success line.
    mutating func loggedIn(serverLine: String) -> String
    /// Ballast refused the credentials: the answer, and a close after too many.
    mutating func refused() -> MailStep
    /// The user's mailbox cannot be reached now: the answer; commands are read again.
    mutating func unavailable() -> String
    /// What a logged-in client is told before its session is closed because its mailbox moved.
    var movedLine: String { get }
}
