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
