import BallastCore
import Testing

/// Health per probed port: a check without a port probes each relay's port, as relayd and
/// HAProxy users expect of a per-port TCP check (deployment D2).
@Suite struct ProbeTests {
    let cas = Pool(
        name: "cas", check: Check(),
        servers: [
            Server(name: "cas1", address: IPAddress("10.0.0.11")!),
            Server(name: "cas2", address: IPAddress("10.0.0.12")!),
        ])

    var topology: Topology {
        Topology(
            pools: [cas],
            relays: [443, 110, 995].map { Relay(name: "cas-\($0)", listen: Endpoint("10.0.0.10:\($0)")!, pool: "cas") })
    }

    func key(_ server: String, _ port: Int) -> ProbeKey {
        ProbeKey(server: ServerKey(pool: "cas", server: server), port: port)
    }

    @Test func eachRelayPortIsProbed() {
        #expect(topology.probePorts(pool: cas, server: cas.servers[0]) == [443, 110, 995])
        #expect(topology.probes.count == 6)
    }

    @Test func aCheckPortOverridesThem() {
        var pool = cas
        pool.check?.port = 443
        var t = topology
        t.pools = [pool]
        #expect(t.probePorts(pool: pool, server: pool.servers[0]) == [443])
        #expect(t.probe(for: t.relays[1], pool: pool, server: pool.servers[0]) == key("cas1", 443))
    }

    @Test func aServerPortOverridesRelayPorts() {
        var pool = cas
        pool.servers[0].port = 8443
        var t = topology
        t.pools = [pool]
        #expect(t.probePorts(pool: pool, server: pool.servers[0]) == [8443])
        #expect(t.probePorts(pool: pool, server: pool.servers[1]) == [443, 110, 995])
    }

    @Test func noCheckNoProbes() {
        var pool = cas
        pool.check = nil
        #expect(topology.probePorts(pool: pool, server: pool.servers[0]).isEmpty)
    }

    @Test func aDeadPortLeavesOnlyItsRelay() {
        let published = PublishedState(topology: topology)
        for probe in topology.probes {
            published.setHealth(ServerHealth(status: .up, since: .now, lastResult: ""), for: probe.key)
        }
        published.setHealth(ServerHealth(status: .down, since: .now, lastResult: "refused"), for: key("cas1", 110))
        let state = published.current
        #expect(state.relayPools["cas-110"]!.primaries.members.map(\.server.name) == ["cas2"])
        #expect(state.relayPools["cas-443"]!.primaries.members.map(\.server.name) == ["cas1", "cas2"])
        #expect(state.relayPools["cas-995"]!.primaries.members.map(\.server.name) == ["cas1", "cas2"])
        // The pool as a whole counts a server only when all of its ports are up.
        #expect(state.pools["cas"]!.primaries.members.map(\.server.name) == ["cas2"])
        #expect(state.health(of: ServerKey(pool: "cas", server: "cas1"))?.status == .down)
        let input = BalancingInput(client: IPAddress("192.0.2.9")!, sequence: 0, random: 0)
        for n in 0..<10 {
            var varied = input
            varied.sequence = UInt64(n)
            #expect(state.choose(for: state.relay(named: "cas-110")!, input: varied)?.server.name == "cas2")
        }
    }

    @Test func statusShowsEachPort() {
        let published = PublishedState(topology: topology)
        published.setHealth(ServerHealth(status: .down, since: .now, lastResult: "refused"), for: key("cas2", 995))
        let line = StatusReport(published.current).pools[0].servers[1]
        #expect(line.health == "down")
        #expect(line.probes.map(\.port) == [443, 110, 995])
        #expect(line.probes.map(\.health) == ["unknown", "unknown", "down"])
    }
}
