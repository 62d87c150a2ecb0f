/// What a mail relay (`imap`, `imaps`, `pop3`, `pop3s`) adds to a TCP relay: its protocol and
/// its TLS towards clients.
public struct MailSettings: Hashable, Sendable {
    /// The mail protocol spoken.
    public enum Dialect: Hashable, Sendable {
        case imap
        case pop3
    }

    /// IMAP or POP3.
    public var dialect: Dialect
    /// TLS from the first byte (`imaps`, `pop3s`); otherwise STARTTLS or STLS, offered when there
    /// are certificates.
    public var implicitTLS: Bool
    /// Certificates offered to clients, chosen by SNI; the first is the default.
    public var certificates: [HTTPSettings.Certificate]

    /// Settings for `dialect`.
    public init(dialect: Dialect, implicitTLS: Bool = false, certificates: [HTTPSettings.Certificate] = []) {
        self.dialect = dialect
        self.implicitTLS = implicitTLS
        self.certificates = certificates
    }
}
