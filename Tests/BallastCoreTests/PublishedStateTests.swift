import BallastCore
import Testing

@Suite struct PublishedStateTests {
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
        #expect(PublishedState(topology: topology()).current.health[pa]?.status == .unknown)
        #expect(PublishedState(topology: topology(check: nil)).current.health.isEmpty)
        #expect(PublishedState(topology: topology(check: nil)).current.pools["web"]?.primaries.members.count == 2)
    }

    @Test func everyChangeBumpsTheVersion() throws {
        let published = PublishedState(topology: topology())
        #expect(published.current.version == 1)
        published.setHealth(ServerHealth(status: .down, since: .now, lastResult: "x"), for: pa)
        #expect(published.current.version == 2)
        try published.setDrained(true, for: b)
        #expect(published.current.version == 3)
        published.replaceTopology(topology())
        #expect(published.current.version == 4)
        #expect(published.current.pools["web"]!.isUnavailable)
    }

    @Test func healthOfUnknownServersIsIgnored() {
        let published = PublishedState(topology: topology())
        let stray = ProbeKey(server: ServerKey(pool: "web", server: "zz"), port: 80)
        published.setHealth(ServerHealth(status: .down, since: .now, lastResult: "x"), for: stray)
        #expect(published.current.health[stray] == nil)
        #expect(published.current.version == 2)
    }

    @Test func drainingAnUnknownServerIsAnError() {
        let published = PublishedState(topology: topology())
        #expect(throws: PublishedState.ChangeError.self) {
            try published.setDrained(true, for: ServerKey(pool: "web", server: "zz"))
        }
    }

    @Test func reloadKeepsHealthOfUnchangedServersOnly() {
        let published = PublishedState(topology: topology())
        published.setHealth(ServerHealth(status: .down, since: .now, lastResult: "x"), for: pa)
        published.setHealth(ServerHealth(status: .down, since: .now, lastResult: "x"), for: pb)
        published.replaceTopology(topology(address: "10.0.0.9"))
        #expect(published.current.health[pa]?.status == .unknown)
        #expect(published.current.health[pb]?.status == .down)
    }

    @Test func reloadKeepsDrainsAndLoads() throws {
        let published = PublishedState(topology: topology())
        try published.setDrained(true, for: a)
        let load = published.current.loads[b]!
        load.opened()
        published.replaceTopology(topology())
        #expect(published.current.isDrained(a))
        #expect(published.current.loads[b] === load)
        #expect(published.current.loads[b]!.active == 1)
    }

    @Test func drainsOfRemovedServersAreDropped() throws {
        let published = PublishedState(topology: topology())
        try published.setDrained(true, for: a)
        var smaller = topology()
        smaller.pools[0].servers.removeFirst()
        published.replaceTopology(smaller)
        #expect(published.current.overrides.drained.isEmpty)
    }

    @Test func subscribersSeeEveryPublication() async throws {
        let published = PublishedState(topology: topology())
        let updates = published.updates()
        try published.setDrained(true, for: a)
        var iterator = updates.makeAsyncIterator()
        let state = await iterator.next()
        #expect(state?.version == 2)
        #expect(state?.isDrained(a) == true)
    }

    @Test func concurrentWritersNeverLoseAChange() async {
        let published = PublishedState(topology: topology())
        await withTaskGroup(of: Void.self) { group in
            for i in 0..<8 {
                group.addTask {
                    for _ in 0..<100 {
                        published.setHealth(
                            ServerHealth(status: i.isMultiple(of: 2) ? .up : .down, since: .now, lastResult: ""),
                            for: i.isMultiple(of: 2) ? pa : pb)
                    }
                }
            }
        }
        #expect(published.current.version == 801)
    }

    @Test func statusReportShowsWhatOperatorsNeed() throws {
        let published = PublishedState(topology: topology())
        published.setHealth(ServerHealth(status: .down, since: .now, lastResult: "connection refused"), for: pa)
        try published.setDrained(true, for: b)
        let report = StatusReport(published.current)
        #expect(report.pools[0].serving == "unavailable")
        #expect(report.pools[0].servers[0].health == "down")
        #expect(report.pools[0].servers[0].lastResult == "connection refused")
        #expect(report.pools[0].servers[1].drained)
        #expect(!report.pools[0].servers[1].inRotation)
        #expect(report.relays[0].mode == "round-robin")
    }
}

@Suite struct PublishedStateLostPoolsTests {
    let topology = Topology(
        pools: [
            Pool(name: "hq", servers: [Server(name: "a", address: IPAddress("10.0.0.1")!, port: 5060)]),
            Pool(name: "dr", servers: [Server(name: "a", address: IPAddress("10.0.1.1")!, port: 5060)]),
        ])

    @Test func lostPoolsArePublishedOnlyWhenTheyChange() {
        let published = PublishedState(topology: topology)
        #expect(published.current.lostPools.isEmpty)
        #expect(published.setLostPools([]) == nil)
        let changed = published.setLostPools(["hq"])
        #expect(changed?.lostPools == ["hq"])
        #expect(published.current.version == 2)
        #expect(published.setLostPools(["hq"]) == nil)
        #expect(published.current.version == 2)
        #expect(StatusReport(published.current).pools.first { $0.name == "hq" }?.lost == true)
        #expect(StatusReport(published.current).pools.first { $0.name == "dr" }?.lost == false)
    }

    @Test func aPoolTheTopologyDropsIsNoLongerLost() {
        let published = PublishedState(topology: topology)
        published.setLostPools(["hq", "gone"])
        #expect(published.current.lostPools == ["hq"])
        published.replaceTopology(Topology(pools: [topology.pools[1]]))
        #expect(published.current.lostPools.isEmpty)
    }
}
