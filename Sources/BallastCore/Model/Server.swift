/// Names one server of one pool: the unit that has health, load and persistence.
public struct ServerKey: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The pool's name.
    public var pool: String
    /// The server's name inside the pool.
    public var server: String

    /// A key from a pool and server name.
    public init(pool: String, server: String) {
        self.pool = pool
        self.server = server
    }

    /// Parses `pool/server`.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
        self.init(pool: String(parts[0]), server: String(parts[1]))
    }

    /// `pool/server`.
    public var description: String { "\(pool)/\(server)" }

    public static func < (lhs: ServerKey, rhs: ServerKey) -> Bool {
        (lhs.pool, lhs.server) < (rhs.pool, rhs.server)
    }
}

/// One backend address in a pool.
public struct Server: Hashable, Sendable {
    /// Unique inside its pool.
    public var name: String
    /// The server's address.
    public var address: IPAddress
    /// The server's port; when absent a relay forwards to its own port (relayd and HAProxy do the same).
    public var port: Int?
    /// Relative share of new connections, 1 to 256.
    public var weight: Int
    /// A backup server takes traffic only when no primary server of its pool is up.
    public var isBackup: Bool
    /// The server's own site, for a pool that spans sites; nil: the pool's. A fenced site's
    /// servers take no traffic, whatever pool they are in.
    public var site: String?
    /// Not probed by its pool's check (`check: none`): always in rotation. With `isBackup`, a
    /// static fallback, as gdnsd's multifo fallback: an address that must not be probed, given
    /// out when every checked server is down.
    public var unchecked: Bool

    /// A server with the given properties.
    public init(
        name: String, address: IPAddress, port: Int? = nil, weight: Int = 1, isBackup: Bool = false,
        site: String? = nil,
        unchecked: Bool = false
    ) {
        self.site = site
        self.unchecked = unchecked
        self.name = name
        self.address = address
        self.port = port
        self.weight = weight
        self.isBackup = isBackup
    }

    /// Allowed weights, as in HAProxy.
    public static let weightRange = 1...256
}
