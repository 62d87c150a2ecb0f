/// The SIP edge: registrar listeners per pool, the director, digest and failover timings.
public struct SIPSettings: Hashable, Sendable {
    /// A SIP transport.
    public enum Transport: String, Hashable, Sendable, CaseIterable {
        case udp, tcp, tls
    }

    /// One address a SIP listener binds, with its transport.
    public struct Listen: Hashable, Sendable, CustomStringConvertible {
        /// UDP, TCP or TLS.
        public var transport: Transport
        /// Address and port.
        public var endpoint: Endpoint

        /// A listen address.
        public init(transport: Transport, endpoint: Endpoint) {
            self.transport = transport
            self.endpoint = endpoint
        }

        /// `tls://127.0.0.1:5061`.
        public var description: String { "\(transport.rawValue)://\(endpoint)" }

        /// The SIP URI that names this address in a Contact: `sip:HOST:PORT;transport=tls`.
        public var contactURI: String {
            let host = endpoint.address.family == .v6 ? "[\(endpoint.address)]" : "\(endpoint.address)"
            switch transport {
            case .udp: return "sip:\(host):\(endpoint.port)"
            case .tcp, .tls: return "sip:\(host):\(endpoint.port);transport=\(transport.rawValue)"
            }
        }
    }

    /// The registrar of one pool: where it listens (when Ballast is that registrar) and the
    /// URI a redirect names for it.
    public struct Registrar: Hashable, Sendable {
        /// The pool whose users it serves.
        public var pool: String
        /// Where Ballast listens as this registrar; empty for a registrar Ballast only names.
        public var listen: [Listen]
        /// The URI put in a 301's Contact for this pool, as configured; nil: one of `listen`'s.
        public var contact: String?

        /// A registrar.
        public init(pool: String, listen: [Listen], contact: String? = nil) {
            self.pool = pool
            self.listen = listen
            self.contact = contact
        }

        /// The URI a 301 names for a request that came over `transport`: the client keeps its
        /// transport unless the configured contact names one. Without a configured contact, the
        /// listener of that transport, else the first.
        public func contact(for transport: Transport) -> String {
            if let contact {
                if contact.lowercased().contains(";transport=") || transport == .udp { return contact }
                return contact + ";transport=\(transport.rawValue)"
            }
            return (listen.first { $0.transport == transport } ?? listen.first)?.contactURI ?? ""
        }
    }

    /// The realm of the digest challenges; HA1 values are computed with it.
    public var realm: String
    /// The users file (until the store holds users), resolved against the config's folder.
    public var usersFile: String?
    /// Where bindings are kept across restarts, resolved against the config's folder.
    public var registrationsFile: String?
    /// Registrars, one per pool, in config order.
    public var registrars: [Registrar]
    /// Director-only listeners: they authenticate and redirect every user to a home.
    public var director: [Listen]
    /// Certificates of the TLS listeners, chosen by SNI.
    public var certificates: [HTTPSettings.Certificate]
    /// How long a home pool must be down before its backup registrar accepts its users.
    public var failureDetection: Duration
    /// How long a lost home pool must be up again before its users are sent home.
    public var fallback: Duration
    /// How long a nonce is good for before the client is challenged again (stale=true).
    public var nonceLifetime: Duration
    /// Digest algorithms offered, one challenge each, in this order. MD5 alone by default:
    /// clients that meet a challenge they cannot answer may give up rather than use the one they
    /// can (baresip 1.0 in Debian 12 stops at a SHA-256 challenge), as Kamailio's default does;
    /// add SHA-256 once every client follows RFC 8760.
    public var algorithms: [DigestAlgorithm]
    /// Shortest registration accepted (423 below it), longest granted, and the default.
    public var minExpires: Int
    /// Longest registration granted; longer requests are cut down to it.
    public var maxExpires: Int
    /// Registration length when the client asks for none.
    public var defaultExpires: Int
    /// Most contacts bound to one user.
    public var maxContacts: Int
    /// For a TLS client's handshake to complete; the connection is closed after.
    public var handshakeTimeout: Duration = .seconds(5)
    /// For a message on TCP or TLS to be whole once its first byte came; the connection is closed after.
    public var messageTimeout: Duration = .seconds(10)
    /// Most TCP and TLS connections open at once on each listen address; further clients wait in
    /// the listen backlog, as a relay's do at its `max-connections`.
    public var maxConnections = 10_000

    /// SIP settings with Ballast's defaults unless given: failure detection 1 s (after the
    /// checks' own fall) and fallback 30 s (Lync: 120 s and 240 s), nonces good for 5 minutes, MD5.
    public init(
        realm: String, usersFile: String? = nil, registrationsFile: String? = nil, registrars: [Registrar] = [],
        director: [Listen] = [], certificates: [HTTPSettings.Certificate] = [],
        failureDetection: Duration = .seconds(1), fallback: Duration = .seconds(30),
        nonceLifetime: Duration = .seconds(300), algorithms: [DigestAlgorithm] = [.md5],
        minExpires: Int = 60, maxExpires: Int = 7200, defaultExpires: Int = 3600, maxContacts: Int = 10
    ) {
        self.realm = realm
        self.usersFile = usersFile
        self.registrationsFile = registrationsFile
        self.registrars = registrars
        self.director = director
        self.certificates = certificates
        self.failureDetection = failureDetection
        self.fallback = fallback
        self.nonceLifetime = nonceLifetime
        self.algorithms = algorithms
        self.minExpires = minExpires
        self.maxExpires = maxExpires
        self.defaultExpires = defaultExpires
        self.maxContacts = maxContacts
    }

    /// The registrar of a pool.
    public func registrar(of pool: String) -> Registrar? { registrars.first { $0.pool == pool } }

    /// Every listener with the pool it is registrar for (nil for the director).
    public var listeners: [(listen: Listen, pool: String?)] {
        registrars.flatMap { registrar in registrar.listen.map { ($0, Optional(registrar.pool)) } }
            + director.map { ($0, nil) }
    }
}

/// A digest hash algorithm (RFC 7616, RFC 8760).
public enum DigestAlgorithm: String, Hashable, Sendable, CaseIterable, Codable {
    case md5 = "MD5"
    case sha256 = "SHA-256"

    /// Reads the name as it appears in a header, case-insensitively.
    public init?(headerValue: String) {
        switch headerValue.uppercased() {
        case "MD5": self = .md5
        case "SHA-256": self = .sha256
        default: return nil
        }
    }
}
