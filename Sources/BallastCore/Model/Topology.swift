/// Everything a config file says, validated: immutable once built.
public struct Topology: Hashable, Sendable {
    /// Settings of this node.
    public struct NodeSettings: Hashable, Sendable {
        /// How long SIGTERM waits for open connections to finish.
        public var shutdownGrace: Duration

        /// Node settings with defaults unless given.
        public init(shutdownGrace: Duration = .seconds(30)) {
            self.shutdownGrace = shutdownGrace
        }
    }

    /// The admin listener.
    public struct Admin: Hashable, Sendable {
        /// Where the admin API, dashboard and metrics listen.
        public var listen: Endpoint
        /// Bearer token the admin API requires; none when nil.
        public var token: String?

        /// Admin settings.
        public init(listen: Endpoint, token: String? = nil) {
            self.listen = listen
            self.token = token
        }
    }

    /// Node settings.
    public var node: NodeSettings
    /// The admin listener, if any.
    public var admin: Admin?
    /// Sites, in config order.
    public var sites: [Site]
    /// Pools, in config order.
    public var pools: [Pool]
    /// Relays, in config order.
    public var relays: [Relay]

    /// A topology with the given parts.
    public init(
        node: NodeSettings = NodeSettings(), admin: Admin? = nil, sites: [Site] = [], pools: [Pool] = [],
        relays: [Relay] = []
    ) {
        self.node = node
        self.admin = admin
        self.sites = sites
        self.pools = pools
        self.relays = relays
    }

    /// The pool with this name.
    public func pool(named name: String) -> Pool? { pools.first { $0.name == name } }

    /// The relay with this name.
    public func relay(named name: String) -> Relay? { relays.first { $0.name == name } }

    /// The server a key names.
    public func server(_ key: ServerKey) -> Server? { pool(named: key.pool)?.server(named: key.server) }
}
