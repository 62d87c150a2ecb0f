/// Everything a node acts on, as one immutable, versioned value.
///
/// Topology + health + operator overrides, plus what is derived from them once per
/// publication (the servers each pool may use). Edges take one snapshot per connection
/// and ask it; they never wait on a lock or on the store.
public struct State: Sendable {
    /// Increases by one with every publication.
    public let version: UInt64
    /// The validated config.
    public let topology: Topology
    /// Health of every server, by key.
    public let health: [ServerKey: ServerHealth]
    /// Operator overrides.
    public let overrides: OperatorOverrides
    /// Each pool's rotation, by pool name.
    public let pools: [String: PoolView]
    /// Each server's live load, by key.
    public let loads: [ServerKey: ServerLoad]
    private let relaysByName: [String: Relay]

    /// Builds a state and derives each pool's rotation.
    public init(
        version: UInt64, topology: Topology, health: [ServerKey: ServerHealth], overrides: OperatorOverrides,
        loads: [ServerKey: ServerLoad]
    ) {
        self.version = version
        self.topology = topology
        self.health = health
        self.overrides = overrides
        self.loads = loads
        self.relaysByName = Dictionary(topology.relays.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var pools: [String: PoolView] = [:]
        for pool in topology.pools {
            var primaries: [CandidateSet.Member] = []
            var backups: [CandidateSet.Member] = []
            for server in pool.servers {
                let key = ServerKey(pool: pool.name, server: server.name)
                guard !overrides.drained.contains(key) else { continue }
                guard health[key]?.status.takesTraffic ?? true else { continue }
                let member = CandidateSet.Member(key: key, server: server, load: loads[key] ?? ServerLoad())
                if server.isBackup { backups.append(member) } else { primaries.append(member) }
            }
            pools[pool.name] = PoolView(
                pool: pool, primaries: CandidateSet(members: primaries), backups: CandidateSet(members: backups))
        }
        self.pools = pools
    }

    /// The relay with this name.
    public func relay(named name: String) -> Relay? { relaysByName[name] }

    /// The status an operator sees for a server: its health, or `drained` on top of it.
    public func health(of key: ServerKey) -> ServerHealth? { health[key] }

    /// Whether an operator drained this server.
    public func isDrained(_ key: ServerKey) -> Bool { overrides.drained.contains(key) }

    /// Chooses a server for a new connection or request through `relay`.
    ///
    /// A sticky server is kept while it is in the pool's active tier and not excluded;
    /// otherwise the relay's balancing mode decides among the active tier, which is the
    /// primaries, or the backups when no primary is in rotation. `excluding` lists servers
    /// that already failed this connection (redispatch); when it covers every primary in
    /// rotation, none of them is up as far as this client knows, and the backups serve.
    public func choose(
        for relay: Relay, input: BalancingInput, sticky: ServerKey? = nil, excluding: [ServerKey] = []
    ) -> CandidateSet.Member? {
        guard let view = pools[relay.pool] else { return nil }
        for tier in [view.primaries, view.backups] where !tier.isEmpty {
            if let sticky, !excluding.contains(sticky), let member = tier.members.first(where: { $0.key == sticky }) {
                return member
            }
            if let index = relay.mode.algorithm.choose(from: tier, input: input, excluding: excluding) {
                return tier.members[index]
            }
        }
        return nil
    }
}
