/// The authoritative DNS server's listeners and limits (the config's `dns` section).
public struct DNSSettings: Hashable, Sendable {
    /// Where the server listens, UDP and TCP on each; none when empty.
    public var listeners: [Endpoint]
    /// UDP sockets bound on each listen address, each read by its own event loop; nil: the
    /// default, half the cores and at least one.
    public var udpSockets: Int?
    /// Response rate limiting of answers over UDP; nil: off. On by default.
    public var rateLimit: DNSRateLimit?
    /// For a query on TCP to be whole once its first byte came, and for the next one to begin.
    public var tcpTimeout: Duration
    /// Most TCP connections open at once on each listen address; further clients wait in the
    /// listen backlog, as a relay's do at its `max-connections`.
    public var maxTCPConnections: Int

    /// Settings with Ballast's defaults unless given.
    public init(
        listeners: [Endpoint] = [], udpSockets: Int? = nil, rateLimit: DNSRateLimit? = DNSRateLimit(),
        tcpTimeout: Duration = .seconds(10), maxTCPConnections: Int = 1024
    ) {
        self.maxTCPConnections = maxTCPConnections
        self.listeners = listeners
        self.udpSockets = udpSockets
        self.rateLimit = rateLimit
        self.tcpTimeout = tcpTimeout
    }
}

/// Response rate limiting for DNS over UDP (BIND's, NSD's and Knot's RRL): how many answers of
/// one kind a client prefix gets per second before the rest are dropped or, one in `slip`, sent
/// truncated so that a real resolver retries over TCP. It keeps Ballast from amplifying floods
/// of queries sent with a victim's address.
public struct DNSRateLimit: Hashable, Sendable {
    /// Answers of one kind (the same name and type, or the same error) per second per prefix.
    public var responsesPerSecond: Int
    /// One in this many dropped answers goes out truncated instead; 0: none.
    public var slip: Int
    /// Clients are counted together by this many leading bits of an IPv4 address.
    public var ipv4PrefixLength: Int
    /// ... and of an IPv6 address.
    public var ipv6PrefixLength: Int
    /// Clients never limited. Loopback by default: no spoofed query arrives from it.
    public var exempt: [IPPrefix]

    /// RRL with defaults in line with BIND's advice and Knot's: 20 per second, slip 2, /24 and /56.
    public init(
        responsesPerSecond: Int = 20, slip: Int = 2, ipv4PrefixLength: Int = 24, ipv6PrefixLength: Int = 56,
        exempt: [IPPrefix] = [IPPrefix("127.0.0.0/8")!, IPPrefix("::1/128")!]
    ) {
        self.responsesPerSecond = responsesPerSecond
        self.slip = slip
        self.ipv4PrefixLength = ipv4PrefixLength
        self.ipv6PrefixLength = ipv6PrefixLength
        self.exempt = exempt
    }
}
