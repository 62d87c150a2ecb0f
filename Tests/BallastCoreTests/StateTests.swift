import BallastCore
import Testing

@Suite struct StateTests {
    let now = ContinuousClock.now

    func topology(mode: BalancingMode = .roundRobin) -> Topology {
        let servers = [
            Server(name: "a", address: IPAddress("10.0.0.1")!, port: 80),
            Server(name: "b", address: IPAddress("10.0.0.2")!, port: 80),
            Server(name: "x", address: IPAddress("10.0.1.1")!, port: 80, isBackup: true),
            Server(name: "y", address: IPAddress("10.0.1.2")!, port: 80, isBackup: true),
        ]
        return Topology(
            pools: [Pool(name: "web", check: Check(), servers: servers)],
            relays: [Relay(name: "r", listen: Endpoint("127.0.0.1:8080")!, pool: "web", mode: mode)])
    }

    func state(
        down: [String] = [], drained: [String] = [], status: HealthStatus = .down, mode: BalancingMode = .roundRobin
    ) -> State {
        let topology = topology(mode: mode)
        var health: [ProbeKey: ServerHealth] = [:]
        for server in topology.pools[0].servers {
            let key = ProbeKey(server: ServerKey(pool: "web", server: server.name), port: 80)
            health[key] = ServerHealth(status: down.contains(server.name) ? status : .up, since: now, lastResult: "")
        }
        return State(
            version: 1, topology: topology, health: health,
            overrides: OperatorOverrides(drained: Set(drained.map { ServerKey(pool: "web", server: $0) })), loads: [:])
    }

    func picks(_ state: State, count: Int = 8, sticky: ServerKey? = nil, excluding: [String] = []) -> Set<String> {
        let relay = state.relay(named: "r")!
        return Set(
            (0..<count).compactMap {
                state.choose(
                    for: relay,
                    input: BalancingInput(client: IPAddress("192.0.2.1")!, sequence: UInt64($0), random: UInt64($0)),
                    sticky: sticky, excluding: excluding.map { ServerKey(pool: "web", server: $0) })?.server.name
            })
    }

    @Test func primariesOnlyWhileAnyIsUp() {
        #expect(picks(state()) == ["a", "b"])
        #expect(picks(state(down: ["a"])) == ["b"])
        #expect(state(down: ["a"]).pools["web"]!.isOnBackups == false)
    }

    @Test func backupsWhenNoPrimaryIsUp() {
        let s = state(down: ["a", "b"])
        #expect(picks(s) == ["x", "y"])
        #expect(s.pools["web"]!.isOnBackups)
    }

    @Test func nothingWhenEverythingIsDown() {
        let s = state(down: ["a", "b", "x", "y"])
        #expect(picks(s).isEmpty)
        #expect(s.pools["web"]!.isUnavailable)
    }

    @Test(arguments: [HealthStatus.down, .suspect])
    func serversOutOfRotation(status: HealthStatus) {
        #expect(picks(state(down: ["b"], status: status)) == ["a"])
    }

    @Test func unknownServersTakeTraffic() {
        #expect(picks(state(down: ["a", "b"], status: .unknown)) == ["a", "b"])
    }

    @Test func drainedServersTakeNoNewConnections() {
        #expect(picks(state(drained: ["a"])) == ["b"])
        #expect(picks(state(drained: ["a", "b"])) == ["x", "y"])
        #expect(state(drained: ["a"]).isDrained(ServerKey(pool: "web", server: "a")))
    }

    @Test func stickyServerKeptWhileInRotation() {
        let b = ServerKey(pool: "web", server: "b")
        #expect(picks(state(), sticky: b) == ["b"])
        #expect(picks(state(down: ["b"]), sticky: b) == ["a"])
        #expect(picks(state(drained: ["b"]), sticky: b) == ["a"])
    }

    @Test func stickyBackupIgnoredOncePrimariesReturn() {
        let x = ServerKey(pool: "web", server: "x")
        #expect(picks(state(down: ["a", "b"]), sticky: x) == ["x"])
        #expect(picks(state(), sticky: x) == ["a", "b"])
    }

    @Test func redispatchExcludesTheFailedServer() {
        #expect(picks(state(), excluding: ["a"]) == ["b"])
        // Every primary failed for this client: the backups serve it.
        #expect(picks(state(), excluding: ["a", "b"]) == ["x", "y"])
        #expect(picks(state(), sticky: ServerKey(pool: "web", server: "a"), excluding: ["a"]) == ["b"])
    }

    @Test(arguments: BalancingMode.allCases)
    func everyModeRespectsRotation(mode: BalancingMode) {
        #expect(picks(state(down: ["a"], mode: mode), count: 50) == ["b"])
        #expect(picks(state(down: ["a", "b"], mode: mode), count: 50).isSubset(of: ["x", "y"]))
    }

    /// Edges look a relay's rotation up once per publication and choose within it per request:
    /// the same servers as choosing by relay, whatever the mode, health, drains, stickiness and
    /// exclusions.
    @Test(arguments: BalancingMode.allCases)
    func choosingWithinARotationLookedUpOnceDecidesAlike(mode: BalancingMode) {
        let web = { (name: String) in ServerKey(pool: "web", server: name) }
        let states = [
            state(mode: mode), state(down: ["a"], mode: mode), state(down: ["a", "b"], mode: mode),
            state(drained: ["b"], mode: mode),
        ]
        for s in states {
            let relay = s.relay(named: "r")!
            let rotation = s.rotation(for: relay)!
            for sticky in [nil, web("a"), web("x")] {
                for excluding in [[], [web("a")], [web("a"), web("b")]] {
                    for n in 0..<20 {
                        let input = BalancingInput(
                            client: IPAddress("192.0.2.\(n % 7)")!, sequence: UInt64(n),
                            random: UInt64(n) &* 0x9E37_79B9)
                        let byRelay = s.choose(for: relay, input: input, sticky: sticky, excluding: excluding)
                        let inRotation = State.choose(
                            in: rotation, relay: relay, input: input, sticky: sticky, excluding: excluding)
                        #expect(byRelay?.key == inRotation?.key)
                    }
                }
            }
        }
    }

    @Test func unknownPoolOrRelay() {
        let s = state()
        #expect(s.relay(named: "nope") == nil)
        let stray = Relay(name: "z", listen: Endpoint("127.0.0.1:1")!, pool: "missing")
        #expect(s.rotation(for: stray) == nil)
        #expect(
            s.choose(for: stray, input: BalancingInput(client: IPAddress("1.2.3.4")!, sequence: 0, random: 0)) == nil)
    }

    @Test func relayTargetsUseServerPortElseForwardPortElseListenPort() {
        let withPort = Server(name: "a", address: IPAddress("10.0.0.1")!, port: 8443)
        let without = Server(name: "b", address: IPAddress("10.0.0.2")!)
        var relay = Relay(name: "r", listen: Endpoint("0.0.0.0:443")!, pool: "p")
        #expect(relay.target(for: withPort).port == 8443)
        #expect(relay.target(for: without).port == 443)
        relay.forwardPort = 4443
        #expect(relay.target(for: without).port == 4443)
    }
}
