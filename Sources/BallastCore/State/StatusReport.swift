/// What `ballast status` and the admin API show: a plain, encodable view of one State.
public struct StatusReport: Codable, Hashable, Sendable {
    /// One probed port of a server.
    public struct ProbeLine: Codable, Hashable, Sendable {
        public var port: Int
        public var health: String
        public var healthForSeconds: Double
        public var lastResult: String
    }

    /// One server's line.
    public struct ServerLine: Codable, Hashable, Sendable {
        public var name: String
        public var address: String
        public var port: Int?
        public var weight: Int
        public var backup: Bool
        /// The site it stands in: its own, or its pool's.
        public var site: String?
        /// `unknown`, `up`, `suspect` or `down`: the worst of its probes; `up` when unchecked.
        public var health: String
        /// Seconds in the current health status.
        public var healthForSeconds: Double
        public var lastResult: String
        /// Each probed port, when the check probes more than one.
        public var probes: [ProbeLine]
        public var drained: Bool
        /// Whether the server takes new connections now.
        public var inRotation: Bool
        public var activeConnections: Int
        public var totalConnections: UInt64
        public var failedConnects: UInt64
    }

    /// One pool's lines.
    public struct PoolLine: Codable, Hashable, Sendable {
        public var name: String
        public var site: String?
        public var backupPool: String?
        /// `primaries`, `backups` (no primary in rotation) or `unavailable`.
        public var serving: String
        public var servers: [ServerLine]
        /// True while the pool is lost and its users sign in at its backup registrar (SIP
        /// resiliency mode).
        public var lost: Bool
    }

    /// One relay's line.
    public struct RelayLine: Codable, Hashable, Sendable {
        public var name: String
        public var listen: String
        public var `protocol`: String
        public var pool: String
        public var mode: String
    }

    /// One site's line.
    public struct SiteLine: Codable, Hashable, Sendable {
        public var name: String
        /// Fenced by a failover plan: its pools take nothing.
        public var fenced: Bool
        /// When its fence last changed, ISO 8601; nil when it never did.
        public var changedAt: String?
        /// Its pools, by name.
        public var pools: [String]
    }

    /// One mailbox database's line.
    public struct DatabaseLine: Codable, Hashable, Sendable {
        public var name: String
        public var copies: [String]
        public var active: String
        public var users: Int
    }

    /// The directory in numbers.
    public struct DirectoryLine: Codable, Hashable, Sendable {
        public var revision: UInt64
        public var users: Int
        /// Users per home pool.
        public var homes: [String: Int]
        public var databases: [DatabaseLine]
    }

    public var version: UInt64
    public var sites: [SiteLine]
    public var relays: [RelayLine]
    public var pools: [PoolLine]
    public var directory: DirectoryLine

    /// The report of `state` as of `now`.
    public init(_ state: State, now: ContinuousClock.Instant = .now) {
        version = state.version
        let directory = state.directory
        sites = state.topology.sites.map { site in
            SiteLine(
                name: site.name, fenced: directory.isFenced(site: site.name),
                changedAt: directory.siteChanges[site.name],
                pools: state.topology.pools.filter { $0.site == site.name }.map(\.name))
        }
        var homes: [String: Int] = [:]
        var perDatabase: [String: Int] = [:]
        for user in directory.usersByURI.values {
            if let home = user.homePool { homes[home, default: 0] += 1 }
            if let database = user.mailboxDatabase { perDatabase[database, default: 0] += 1 }
        }
        self.directory = DirectoryLine(
            revision: directory.revision, users: directory.usersByURI.count, homes: homes,
            databases: directory.allDatabases.map {
                DatabaseLine(name: $0.name, copies: $0.copies, active: $0.active, users: perDatabase[$0.name] ?? 0)
            })
        relays = state.topology.relays.map {
            RelayLine(
                name: $0.name, listen: $0.listen.description, protocol: $0.protocol.rawValue, pool: $0.pool,
                mode: $0.mode.rawValue)
        }
        pools = state.topology.pools.map { pool in
            let view = state.pools[pool.name]
            let rotation = Set((view?.activeTier.members ?? []).map(\.key))
            let serving: String
            if state.isFenced(pool: pool.name) {
                serving = "fenced"
            } else if let view, !view.primaries.isEmpty {
                serving = "primaries"
            } else if let view, !view.backups.isEmpty {
                serving = "backups"
            } else {
                serving = "unavailable"
            }
            let servers = pool.servers.map { server -> ServerLine in
                let key = ServerKey(pool: pool.name, server: server.name)
                let health = state.health(of: key)
                let load = state.loads[key]
                let probes = state.topology.probePorts(pool: pool, server: server).compactMap { port -> ProbeLine? in
                    guard let probe = state.health[ProbeKey(server: key, port: port)] else { return nil }
                    return ProbeLine(
                        port: port, health: probe.status.rawValue, healthForSeconds: seconds(now - probe.since),
                        lastResult: probe.lastResult)
                }
                return ServerLine(
                    name: server.name, address: server.address.description, port: server.port, weight: server.weight,
                    backup: server.isBackup, site: server.site ?? pool.site, health: health?.status.rawValue ?? "up",
                    healthForSeconds: health.map { seconds(now - $0.since) } ?? 0,
                    lastResult: health?.lastResult ?? "no check configured", probes: probes.count > 1 ? probes : [],
                    drained: state.isDrained(key), inRotation: rotation.contains(key),
                    activeConnections: load?.active ?? 0, totalConnections: load?.total ?? 0,
                    failedConnects: load?.failedConnects ?? 0)
            }
            return PoolLine(
                name: pool.name, site: pool.site, backupPool: pool.backupPool, serving: serving, servers: servers,
                lost: state.lostPools.contains(pool.name))
        }
    }
}

private func seconds(_ duration: Duration) -> Double {
    let (seconds, attoseconds) = duration.components
    return Double(seconds) + Double(attoseconds) / 1e18
}
