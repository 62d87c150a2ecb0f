import BallastCore
import Testing

@Suite struct StateStoreTests {
    func topology(address: String = "10.0.0.1", check: Check? = Check()) -> Topology {
        Topology(
            pools: [
                Pool(
                    name: "web", check: check,
                    servers: [
                        Server(name: "a", address: IPAddress(address)!, port: 80),
                        Server(name: "b", address: IPAddress("10.0.0.2")!, port: 80),
                    ])
            ],
            relays: [Relay(name: "r", listen: Endpoint("127.0.0.1:8080")!, pool: "web")])
    }

    let a = ServerKey(pool: "web", server: "a")
    let b = ServerKey(pool: "web", server: "b")
    var pa: ProbeKey { ProbeKey(server: a, port: 80) }
    var pb: ProbeKey { ProbeKey(server: b, port: 80) }

    @Test func checkedServersStartUnknownUncheckedStartUp() {
        #expect(StateStore(topology: topology()).current.health[pa]?.status == .unknown)
        #expect(StateStore(topology: topology(check: nil)).current.health.isEmpty)
        #expect(StateStore(topology: topology(check: nil)).current.pools["web"]?.primaries.members.count == 2)
    }

    @Test func everyChangeBumpsTheVersion() throws {
        let store = StateStore(topology: topology())
        #expect(store.current.version == 1)
        store.setHealth(ServerHealth(status: .down, since: .now, lastResult: "x"), for: pa)
        #expect(store.current.version == 2)
        try store.setDrained(true, for: b)
        #expect(store.current.version == 3)
        store.replaceTopology(topology())
        #expect(store.current.version == 4)
        #expect(store.current.pools["web"]!.isUnavailable)
    }

    @Test func healthOfUnknownServersIsIgnored() {
        let store = StateStore(topology: topology())
        let stray = ProbeKey(server: ServerKey(pool: "web", server: "zz"), port: 80)
        store.setHealth(ServerHealth(status: .down, since: .now, lastResult: "x"), for: stray)
        #expect(store.current.health[stray] == nil)
        #expect(store.current.version == 2)
    }

    @Test func drainingAnUnknownServerIsAnError() {
        let store = StateStore(topology: topology())
        #expect(throws: StateStore.ChangeError.self) {
            try store.setDrained(true, for: ServerKey(pool: "web", server: "zz"))
        }
    }

    @Test func reloadKeepsHealthOfUnchangedServersOnly() {
        let store = StateStore(topology: topology())
        store.setHealth(ServerHealth(status: .down, since: .now, lastResult: "x"), for: pa)
        store.setHealth(ServerHealth(status: .down, since: .now, lastResult: "x"), for: pb)
        store.replaceTopology(topology(address: "10.0.0.9"))
        #expect(store.current.health[pa]?.status == .unknown)
        #expect(store.current.health[pb]?.status == .down)
    }

    @Test func reloadKeepsDrainsAndLoads() throws {
        let store = StateStore(topology: topology())
        try store.setDrained(true, for: a)
        let load = store.current.loads[b]!
        load.opened()
        store.replaceTopology(topology())
        #expect(store.current.isDrained(a))
        #expect(store.current.loads[b] === load)
        #expect(store.current.loads[b]!.active == 1)
    }

    @Test func drainsOfRemovedServersAreDropped() throws {
        let store = StateStore(topology: topology())
        try store.setDrained(true, for: a)
        var smaller = topology()
        smaller.pools[0].servers.removeFirst()
        store.replaceTopology(smaller)
        #expect(store.current.overrides.drained.isEmpty)
    }

    @Test func subscribersSeeEveryPublication() async throws {
        let store = StateStore(topology: topology())
        let updates = store.updates()
        try store.setDrained(true, for: a)
        var iterator = updates.makeAsyncIterator()
        let state = await iterator.next()
        #expect(state?.version == 2)
        #expect(state?.isDrained(a) == true)
    }

    @Test func concurrentWritersNeverLoseAChange() async {
        let store = StateStore(topology: topology())
        await withTaskGroup(of: Void.self) { group in
            for i in 0..<8 {
                group.addTask {
                    for _ in 0..<100 {
                        store.setHealth(
                            ServerHealth(status: i.isMultiple(of: 2) ? .up : .down, since: .now, lastResult: ""),
                            for: i.isMultiple(of: 2) ? pa : pb)
                    }
                }
            }
        }
        #expect(store.current.version == 801)
    }

    @Test func statusReportShowsWhatOperatorsNeed() throws {
        let store = StateStore(topology: topology())
        store.setHealth(ServerHealth(status: .down, since: .now, lastResult: "connection refused"), for: pa)
        try store.setDrained(true, for: b)
        let report = StatusReport(store.current)
        #expect(report.pools[0].serving == "unavailable")
        #expect(report.pools[0].servers[0].health == "down")
        #expect(report.pools[0].servers[0].lastResult == "connection refused")
        #expect(report.pools[0].servers[1].drained)
        #expect(!report.pools[0].servers[1].inRotation)
        #expect(report.relays[0].mode == "round-robin")
    }
}

@Suite struct StateStoreLostPoolsTests {
    let topology = Topology(
        pools: [
            Pool(name: "hq", servers: [Server(name: "a", address: IPAddress("10.0.0.1")!, port: 5060)]),
            Pool(name: "dr", servers: [Server(name: "a", address: IPAddress("10.0.1.1")!, port: 5060)]),
        ])

    @Test func lostPoolsArePublishedOnlyWhenTheyChange() {
        let store = StateStore(topology: topology)
        #expect(store.current.lostPools.isEmpty)
        #expect(store.setLostPools([]) == nil)
        let published = store.setLostPools(["hq"])
        #expect(published?.lostPools == ["hq"])
        #expect(store.current.version == 2)
        #expect(store.setLostPools(["hq"]) == nil)
        #expect(store.current.version == 2)
        #expect(StatusReport(store.current).pools.first { $0.name == "hq" }?.lost == true)
        #expect(StatusReport(store.current).pools.first { $0.name == "dr" }?.lost == false)
    }

    @Test func aPoolTheTopologyDropsIsNoLongerLost() {
        let store = StateStore(topology: topology)
        store.setLostPools(["hq", "gone"])
        #expect(store.current.lostPools == ["hq"])
        store.replaceTopology(Topology(pools: [topology.pools[1]]))
        #expect(store.current.lostPools.isEmpty)
    }
}
