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
    /// DNS zones Ballast answers for.
    public var zones: [Zone]
    /// The DNS server's listeners and limits.
    public var dns: DNSSettings
    /// The SIP edge, if configured.
    public var sip: SIPSettings?
    /// The directory's store, if configured; without one, users come from the SIP users file.
    public var store: StoreSettings?
    /// Where and how often the directory is backed up.
    public var backup: BackupSettings?
    /// The witness that may let a site failover start by itself; none: never automatic.
    public var witness: WitnessSettings?

    /// A topology with the given parts.
    public init(
        node: NodeSettings = NodeSettings(), admin: Admin? = nil, sites: [Site] = [], pools: [Pool] = [],
        relays: [Relay] = [], zones: [Zone] = [], dns: DNSSettings = DNSSettings(), sip: SIPSettings? = nil,
        store: StoreSettings? = nil
    ) {
        self.store = store
        self.node = node
        self.admin = admin
        self.sites = sites
        self.pools = pools
        self.relays = relays
        self.zones = zones
        self.dns = dns
        self.sip = sip
    }

    /// The pool with this name.
    public func pool(named name: String) -> Pool? { pools.first { $0.name == name } }

    /// The names of the servers at `site`: those of its pools, and those placed there by their own `site`.
    public func serverNames(at site: String) -> Set<String> {
        Set(pools.flatMap { pool in pool.servers.filter { pool.site(of: $0) == site }.map(\.name) })
    }

    /// The relay with this name.
    public func relay(named name: String) -> Relay? { relays.first { $0.name == name } }

    /// The server a key names.
    public func server(_ key: ServerKey) -> Server? { pool(named: key.pool)?.server(named: key.server) }
}

/// One port of one server that a health check probes. A check without a port probes every
/// port the relays forward to, so that each relay's port has its own health, as each
/// relayd relay and each HAProxy backend checks its own.
public struct ProbeKey: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The server.
    public var server: ServerKey
    /// The port probed.
    public var port: Int

    /// A probe key.
    public init(server: ServerKey, port: Int) {
        self.server = server
        self.port = port
    }

    /// `pool/server:port`.
    public var description: String { "\(server):\(port)" }

    public static func < (lhs: ProbeKey, rhs: ProbeKey) -> Bool {
        (lhs.server, lhs.port) < (rhs.server, rhs.port)
    }
}

extension Topology {
    /// The ports the check of `pool` probes on `server`: the check's port, else the server's,
    /// else every port that relays forward to from this pool. Empty without a check, or for a
    /// server with `check: none`.
    public func probePorts(pool: Pool, server: Server) -> [Int] {
        guard let check = pool.check, !server.unchecked else { return [] }
        if let port = check.port ?? server.port { return [port] }
        var ports: [Int] = []
        for relay in relays where relay.pool == pool.name {
            let port = relay.target(for: server).port
            if !ports.contains(port) { ports.append(port) }
        }
        return ports
    }

    /// Every probe the topology needs, with the check that runs it.
    public var probes: [(key: ProbeKey, server: Server, check: Check)] {
        var result: [(key: ProbeKey, server: Server, check: Check)] = []
        for pool in pools {
            guard let check = pool.check else { continue }
            for server in pool.servers {
                for port in probePorts(pool: pool, server: server) {
                    result.append(
                        (ProbeKey(server: ServerKey(pool: pool.name, server: server.name), port: port), server, check))
                }
            }
        }
        return result
    }

    /// The probe whose result decides whether `server` takes new connections through `relay`;
    /// nil when its pool has no check or the server is not checked.
    public func probe(for relay: Relay, pool: Pool, server: Server) -> ProbeKey? {
        guard let check = pool.check, !server.unchecked else { return nil }
        let port = check.port ?? server.port ?? relay.target(for: server).port
        return ProbeKey(server: ServerKey(pool: pool.name, server: server.name), port: port)
    }
}
