/// Everything a node acts on, as one immutable, versioned value.
///
/// Topology + directory + health + operator overrides, plus what is derived from them once per
/// publication (the servers each relay and each pool may use). Edges take one snapshot
/// per connection and ask it; they never wait on a lock or on the store. The parts live
/// in one immutable object, so that taking a snapshot costs one reference count.
public struct State: Sendable {
    private final class Storage: Sendable {
        let version: UInt64
        let topology: Topology
        let health: [ProbeKey: ServerHealth]
        let overrides: OperatorOverrides
        let pools: [String: PoolView]
        let relayPools: [String: PoolView]
        let loads: [ServerKey: ServerLoad]
        let relaysByName: [String: Relay]
        let directory: Directory
        let lostPools: Set<String>

        init(
            version: UInt64, topology: Topology, health: [ProbeKey: ServerHealth], overrides: OperatorOverrides,
            pools: [String: PoolView], relayPools: [String: PoolView], loads: [ServerKey: ServerLoad],
            relaysByName: [String: Relay], directory: Directory, lostPools: Set<String>
        ) {
            self.version = version
            self.topology = topology
            self.health = health
            self.overrides = overrides
            self.pools = pools
            self.relayPools = relayPools
            self.loads = loads
            self.relaysByName = relaysByName
            self.directory = directory
            self.lostPools = lostPools
        }
    }

    private let storage: Storage

    /// Increases by one with every publication.
    public var version: UInt64 { storage.version }
    /// The validated config.
    public var topology: Topology { storage.topology }
    /// Health of every probed port, by key.
    public var health: [ProbeKey: ServerHealth] { storage.health }
    /// Operator overrides.
    public var overrides: OperatorOverrides { storage.overrides }
    /// Each pool's rotation, by pool name: a server counts when every port probed on it is up.
    public var pools: [String: PoolView] { storage.pools }
    /// Each relay's rotation, by relay name: a server counts when the port that relay uses is up.
    public var relayPools: [String: PoolView] { storage.relayPools }
    /// Each server's live load, by key.
    public var loads: [ServerKey: ServerLoad] { storage.loads }
    /// Users and their homes.
    public var directory: Directory { storage.directory }
    /// Pools whose users their backup registrar serves now (SIP resiliency mode): lost for
    /// `sip.failure-detection`, not yet back for `sip.fallback`.
    public var lostPools: Set<String> { storage.lostPools }
    /// The SIP settings, without copying the rest of the topology (the registrar asks per request).
    public var sip: SIPSettings? { storage.topology.sip }
    /// The pool with this name, without copying the topology.
    public func pool(named name: String) -> Pool? { storage.pools[name]?.pool }

    /// Builds a state and derives each pool's and relay's rotation.
    public init(
        version: UInt64, topology: Topology, health: [ProbeKey: ServerHealth], overrides: OperatorOverrides,
        loads: [ServerKey: ServerLoad], directory: Directory = Directory(), lostPools: Set<String> = []
    ) {
        func takesTraffic(_ key: ProbeKey?) -> Bool {
            guard let key else { return true }
            return health[key]?.status.takesTraffic ?? true
        }
        var pools: [String: PoolView] = [:]
        var poolsByName: [String: Pool] = [:]
        for pool in topology.pools {
            poolsByName[pool.name] = pool
            pools[pool.name] = State.rotation(of: pool, overrides: overrides, loads: loads) { server in
                !directory.isFenced(site: pool.site(of: server))
                    && topology.probePorts(pool: pool, server: server).allSatisfy {
                        takesTraffic(ProbeKey(server: ServerKey(pool: pool.name, server: server.name), port: $0))
                    }
            }
        }
        var relayPools: [String: PoolView] = [:]
        for relay in topology.relays {
            guard let pool = poolsByName[relay.pool] else { continue }
            relayPools[relay.name] = State.rotation(of: pool, overrides: overrides, loads: loads) { server in
                !directory.isFenced(site: pool.site(of: server))
                    && takesTraffic(topology.probe(for: relay, pool: pool, server: server))
            }
        }
        self.storage = Storage(
            version: version, topology: topology, health: health, overrides: overrides, pools: pools,
            relayPools: relayPools, loads: loads,
            relaysByName: Dictionary(topology.relays.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first }),
            directory: directory, lostPools: lostPools)
    }

    private static func rotation(
        of pool: Pool, overrides: OperatorOverrides, loads: [ServerKey: ServerLoad], healthy: (Server) -> Bool
    ) -> PoolView {
        var primaries: [CandidateSet.Member] = []
        var backups: [CandidateSet.Member] = []
        for server in pool.servers {
            let key = ServerKey(pool: pool.name, server: server.name)
            guard !overrides.drained.contains(key), healthy(server) else { continue }
            let member = CandidateSet.Member(key: key, server: server, load: loads[key] ?? ServerLoad())
            if server.isBackup { backups.append(member) } else { primaries.append(member) }
        }
        return PoolView(
            pool: pool, primaries: CandidateSet(members: primaries), backups: CandidateSet(members: backups))
    }

    /// The relay with this name.
    public func relay(named name: String) -> Relay? { storage.relaysByName[name] }

    /// Whether the pool's site is fenced by a failover plan: it answers nothing, whatever its health.
    public func isFenced(pool name: String) -> Bool { directory.isFenced(site: pool(named: name)?.site) }

    /// Whether `server` of `pool` is at a fenced site (its own, or its pool's).
    public func isFenced(_ server: Server, in pool: Pool) -> Bool { directory.isFenced(site: pool.site(of: server)) }

    /// A server's health across its probed ports: the worst of them (down, then suspect,
    /// then unknown, then up); nil when nothing probes it.
    public func health(of key: ServerKey) -> ServerHealth? {
        guard let pool = topology.pool(named: key.pool), let server = pool.server(named: key.server) else { return nil }
        let results = topology.probePorts(pool: pool, server: server).compactMap {
            health[ProbeKey(server: key, port: $0)]
        }
        return results.max { State.severity($0.status) < State.severity($1.status) }
    }

    private static func severity(_ status: HealthStatus) -> Int {
        switch status {
        case .up: return 0
        case .unknown: return 1
        case .suspect: return 2
        case .down: return 3
        }
    }

    /// Whether an operator drained this server.
    public func isDrained(_ key: ServerKey) -> Bool { overrides.drained.contains(key) }

    /// Chooses a server for a new connection or request through `relay`.
    ///
    /// A sticky server is kept while it is in the relay's active tier and not excluded;
    /// otherwise the relay's balancing mode decides among the active tier, which is the
    /// primaries, or the backups when no primary is in rotation. `excluding` lists servers
    /// that already failed this connection (redispatch); when it covers every primary in
    /// rotation, none of them is up as far as this client knows, and the backups serve.
    public func choose(
        for relay: Relay, input: BalancingInput, sticky: ServerKey? = nil, excluding: [ServerKey] = []
    ) -> CandidateSet.Member? {
        guard let view = rotation(for: relay) else { return nil }
        return State.choose(in: view, relay: relay, input: input, sticky: sticky, excluding: excluding)
    }

    /// The servers `relay` may use: its own rotation (by the port it probes), else its pool's.
    /// Edges that choose per request look it up once per publication.
    public func rotation(for relay: Relay) -> PoolView? { relayPools[relay.name] ?? pools[relay.pool] }

    /// `choose(for:input:sticky:excluding:)` within a rotation looked up before.
    public static func choose(
        in view: PoolView, relay: Relay, input: BalancingInput, sticky: ServerKey? = nil, excluding: [ServerKey] = []
    ) -> CandidateSet.Member? {
        choose(in: view.primaries, relay: relay, input: input, sticky: sticky, excluding: excluding)
            ?? choose(in: view.backups, relay: relay, input: input, sticky: sticky, excluding: excluding)
    }

    private static func choose(
        in tier: CandidateSet, relay: Relay, input: BalancingInput, sticky: ServerKey?, excluding: [ServerKey]
    ) -> CandidateSet.Member? {
        guard !tier.isEmpty else { return nil }
        if let sticky, !excluding.contains(sticky), let member = tier.members.first(where: { $0.key == sticky }) {
            return member
        }
        return relay.mode.algorithm.choose(from: tier, input: input, excluding: excluding).map { tier.members[$0] }
    }
}
