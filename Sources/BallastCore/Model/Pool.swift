/// A data centre.
public struct Site: Hashable, Sendable {
    /// Short name such as `hq` or `dr`.
    public var name: String
    /// A plan may fence or unfence the site at most once per this period, unless forced.
    public var holdDown: Duration

    /// A site by name.
    public init(name: String, holdDown: Duration = .seconds(600)) {
        self.name = name
        self.holdDown = holdDown
    }
}

/// The servers at one site that serve the same users or service.
public struct Pool: Hashable, Sendable {
    /// Unique pool name.
    public var name: String
    /// The site the pool is in, if the config says.
    public var site: String?
    /// The pool that takes over this pool's users when it is lost.
    public var backupPool: String?
    /// How servers of this pool are probed; servers are always up without one.
    public var check: Check?
    /// The pool's servers, in config order.
    public var servers: [Server]

    /// A pool with the given properties.
    public init(name: String, site: String? = nil, backupPool: String? = nil, check: Check? = nil, servers: [Server]) {
        self.name = name
        self.site = site
        self.backupPool = backupPool
        self.check = check
        self.servers = servers
    }

    /// The key of each server, in config order.
    public var serverKeys: [ServerKey] { servers.map { ServerKey(pool: name, server: $0.name) } }

    /// The server with this name.
    public func server(named name: String) -> Server? { servers.first { $0.name == name } }

    /// The site `server` is at: its own, else the pool's.
    public func site(of server: Server) -> String? { server.site ?? site }
}
