/// What a mail relay (`imap`, `imaps`, `pop3`, `pop3s`) adds to a TCP relay: its protocol and
/// its TLS towards clients.
public struct MailSettings: Hashable, Sendable {
    /// The mail protocol spoken.
    public enum Dialect: Hashable, Sendable {
        case imap
        case pop3
    }

    /// How long a mail relay waits for its client before it closes the connection.
    public struct Timeouts: Hashable, Sendable {
        /// For the client's TLS handshake (implicit, or after STARTTLS or STLS) to complete.
        public var handshake: Duration
        /// For the client to log in, from its connection (nginx mail's `timeout`).
        public var login: Duration

        /// Timeouts with Ballast's defaults unless given.
        public init(handshake: Duration = .seconds(5), login: Duration = .seconds(60)) {
            self.handshake = handshake
            self.login = login
        }
    }

    /// IMAP or POP3.
    public var dialect: Dialect
    /// TLS from the first byte (`imaps`, `pop3s`); otherwise STARTTLS or STLS, offered when there
    /// are certificates.
    public var implicitTLS: Bool
    /// Certificates offered to clients, chosen by SNI; the first is the default.
    public var certificates: [HTTPSettings.Certificate]
    /// The handshake and login timeouts.
    public var timeouts: Timeouts

    /// Settings for `dialect`.
    public init(
        dialect: Dialect, implicitTLS: Bool = false, certificates: [HTTPSettings.Certificate] = [],
        timeouts: Timeouts = Timeouts()
    ) {
        self.dialect = dialect
        self.implicitTLS = implicitTLS
        self.certificates = certificates
        self.timeouts = timeouts
    }
}
