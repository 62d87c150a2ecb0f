/// A listener that forwards to a pool.
public struct Relay: Hashable, Sendable {
    /// Which PROXY protocol header, if any, goes to the server before the client's bytes.
    public enum ProxyProtocol: String, Hashable, Sendable, CaseIterable {
        case none
        case v1
        case v2
    }

    /// How long every relay waits, whatever it speaks; a protocol's own waits are in its settings.
    public struct Timeouts: Hashable, Sendable {
        /// For a server to accept a connection.
        public var connect: Duration
        /// With no byte in either direction before the connection is closed.
        /// Thirty minutes by default, to outlast the SIP REGISTER refresh interval.
        public var idle: Duration

        /// Timeouts with Ballast's defaults unless given.
        public init(connect: Duration = .seconds(5), idle: Duration = .seconds(1800)) {
            self.connect = connect
            self.idle = idle
        }
    }

    /// Unique relay name.
    public var name: String
    /// Address and port to listen on.
    public var listen: Endpoint
    /// What the relay speaks, with the settings that protocol has (and no others).
    public var kind: Kind
    /// The pool it forwards to.
    public var pool: String
    /// How a server is chosen for a new connection.
    public var mode: BalancingMode
    /// Whether a client returns to the server it had.
    public var persistence: Persistence
    /// Connect and idle timeouts.
    public var timeouts: Timeouts
    /// Most connections open at once through this relay; further clients wait in the listen backlog.
    public var maxConnections: Int
    /// Port on the server when the server names none; the listen port when absent.
    public var forwardPort: Int?
    /// PROXY protocol header sent to servers.
    public var proxyProtocol: ProxyProtocol
    /// Expect a PROXY protocol header (v1 or v2) from clients, as behind another balancer.
    public var acceptProxyProtocol: Bool

    /// What a relay speaks, each protocol with its own settings.
    public enum Kind: Hashable, Sendable {
        /// Bytes relayed as they come (L4).
        case tcp
        /// HTTP/1.1 from clients, each request balanced on its own (L7).
        case http(HTTPSettings)
        /// HTTP/1.1 and HTTP/2 over TLS that Ballast terminates with `certificates` (L7).
        case https(HTTPSettings)
        /// A directory-aware IMAP or POP3 proxy.
        case mail(MailSettings)
    }

    /// A relay with the given properties and defaults for the rest.
    public init(
        name: String, listen: Endpoint, kind: Kind = .tcp, pool: String, mode: BalancingMode = .roundRobin,
        persistence: Persistence = .none, timeouts: Timeouts = Timeouts(), maxConnections: Int = 4096,
        forwardPort: Int? = nil, proxyProtocol: ProxyProtocol = .none, acceptProxyProtocol: Bool = false
    ) {
        self.name = name
        self.listen = listen
        self.kind = kind
        self.pool = pool
        self.mode = mode
        self.persistence = persistence
        self.timeouts = timeouts
        self.maxConnections = maxConnections
        self.forwardPort = forwardPort
        self.proxyProtocol = proxyProtocol
        self.acceptProxyProtocol = acceptProxyProtocol
    }

    /// The protocol's name, as the config writes it.
    public var `protocol`: RelayProtocol {
        switch kind {
        case .tcp: .tcp
        case .http: .http
        case .https: .https
        case .mail(let mail):
            switch (mail.dialect, mail.implicitTLS) {
            case (.imap, false): .imap
            case (.imap, true): .imaps
            case (.pop3, false): .pop3
            case (.pop3, true): .pop3s
            }
        }
    }

    /// The settings of an `http` or `https` relay; nil for the others.
    public var http: HTTPSettings? {
        switch kind {
        case .http(let settings), .https(let settings): settings
        case .tcp, .mail: nil
        }
    }

    /// The settings of a mail relay; nil for the others.
    public var mail: MailSettings? {
        if case .mail(let settings) = kind { settings } else { nil }
    }

    /// The endpoint this relay connects to for a server of its pool.
    public func target(for server: Server) -> Endpoint {
        Endpoint(address: server.address, port: server.port ?? forwardPort ?? listen.port)
    }
}

/// Whether, and for how long, a client is sent back to the server it had.
public enum Persistence: Hashable, Sendable {
    /// Every connection is balanced on its own.
    case none
    /// Source-address affinity (relayd `sticky-address`, HAProxy `stick on src`): entries
    /// expire after `timeout` without use and the table holds at most `capacity` clients.
    case sourceAddress(timeout: Duration, capacity: Int)
    /// A cookie the relay inserts names the server (`http` and `https` relays only).
    case cookie(CookiePersistence)

    /// Defaults for source-address affinity: 30 minutes, 100,000 clients.
    public static let defaultSourceAddress = Persistence.sourceAddress(timeout: .seconds(1800), capacity: 100_000)
}

/// What a relay speaks on its listener.
public enum RelayProtocol: String, Hashable, Sendable, CaseIterable {
    /// Bytes relayed as they come (L4).
    case tcp
    /// HTTP/1.1 from clients, each request balanced on its own (L7).
    case http
    /// HTTP/1.1 and HTTP/2 over TLS that Ballast terminates (L7).
    case https
    /// IMAP: Ballast greets, reads the login, and proxies to the server holding the user's active mailbox copy.
    case imap
    /// IMAP over implicit TLS (port 993), otherwise as `imap`.
    case imaps
    /// POP3, directory-aware as `imap`.
    case pop3
    /// POP3 over implicit TLS (port 995).
    case pop3s

    /// Whether the relay parses HTTP.
    public var isHTTP: Bool { self == .http || self == .https }

    /// Whether the relay is a directory-aware mail proxy.
    public var isMail: Bool { self == .imap || self == .imaps || self == .pop3 || self == .pop3s }

    /// Whether clients speak TLS from the first byte.
    public var isImplicitTLS: Bool { self == .https || self == .imaps || self == .pop3s }

    /// The server port a mail relay uses when neither the server nor `forward-port` names one:
    /// plain IMAP or POP3, as a proxy in front of Dovecot or Exchange's back end speaks.
    public var defaultServerPort: Int? {
        switch self {
        case .imap, .imaps: return 143
        case .pop3, .pop3s: return 110
        case .tcp, .http, .https: return nil
        }
    }
}
