import BallastCore
import BallastNode
import BallastTestSupport
import Testing

/// Distribution, affinity and backups, seen by real clients through a real relay.
@Suite(.serialized) struct RelayBalancingTests {
    func counts(_ lab: RelayLab, connections: Int, source: (Int) -> String? = { _ in nil }) throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for i in 0..<connections {
            let name = try #require(try lab.whoAnswers(source: source(i)))
            counts[name, default: 0] += 1
        }
        return counts
    }

    @Test func roundRobinSpreadsEvenly() async throws {
        let lab = try await RelayLab()
        try await using(lab) { lab throws in
            #expect(try counts(lab, connections: 30) == ["a": 10, "b": 10, "c": 10])
        }
    }

    @Test func weightedRoundRobinFollowsWeights() async throws {
        let lab = try await RelayLab { topology in
            topology.relays[0].mode = .weightedRoundRobin
            topology.pools[0].servers[0].weight = 3
        }
        try await using(lab) { lab throws in
            #expect(try counts(lab, connections: 25) == ["a": 15, "b": 5, "c": 5])
        }
    }

    @Test func leastConnectionsFillsTheIdleServer() async throws {
        let lab = try await RelayLab(backends: ["a", "b"]) { $0.relays[0].mode = .leastConnections }
        try await using(lab) { lab throws in
            // Hold three connections open; they spread 2/1 or 1/2. The next goes to the lighter one.
            var held: [TestSocket] = []
            var names: [String] = []
            for _ in 0..<3 {
                let socket = try TestSocket(port: lab.relayPort)
                names.append(try #require(try socket.readLine()))
                held.append(socket)
            }
            let lighter = names.filter { $0 == "a" }.count < names.filter { $0 == "b" }.count ? "a" : "b"
            let next = try TestSocket(port: lab.relayPort)
            #expect(try next.readLine() == lighter)
            // Close everything on a: new connections go there until the loads are level.
            for (socket, name) in zip(held, names) where name == "a" { socket.close() }
            #expect(await eventually { lab.node.state.current.loads[lab.key("a")]!.active == 0 })
            let after = try TestSocket(port: lab.relayPort)
            #expect(try after.readLine() == "a")
            _ = next
        }
    }

    @Test func randomUsesEveryServer() async throws {
        let lab = try await RelayLab { $0.relays[0].mode = .random }
        try await using(lab) { lab throws in
            let seen = try counts(lab, connections: 60)
            #expect(Set(seen.keys) == ["a", "b", "c"])
        }
    }

    /// Source-hash over real sockets: 100 clients on distinct loopback addresses; when a
    /// server dies only its own clients move, and they return when it comes back.
    @Test func sourceHashIsConsistentOverRealSockets() async throws {
        let check = Check(kind: .tcp, interval: .milliseconds(100), timeout: .milliseconds(80), rise: 1, fall: 1)
        let lab = try await RelayLab(check: check) { $0.relays[0].mode = .sourceHash }
        try await using(lab) { lab throws in
            let clients = (2..<102).map { "127.0.0.\($0)" }
            func mapping() throws -> [String] { try clients.map { try #require(try lab.whoAnswers(source: $0)) } }
            let before = try mapping()
            #expect(try mapping() == before)
            #expect(Set(before).count == 3)

            let bPort = lab.backend("b").port
            await lab.backend("b").stop()
            #expect(await eventually { lab.node.state.current.health(of: lab.key("b"))?.status == .down })
            let during = try mapping()
            for (old, new) in zip(before, during) {
                if old == "b" { #expect(new != "b") } else { #expect(new == old, "a client of \(old) moved to \(new)") }
            }
            let revived = try await TestBackend.start(name: "b", port: bPort)
            try await using(revived) { revived throws in
                #expect(await eventually { lab.node.state.current.health(of: lab.key("b"))?.status == .up })
                #expect(try mapping() == before)
            }
        }
    }

    @Test func sourceAffinityKeepsAClientOnItsServer() async throws {
        let lab = try await RelayLab {
            $0.relays[0].mode = .roundRobin
            $0.relays[0].persistence = .sourceAddress(timeout: .seconds(60), capacity: 1000)
        }
        try await using(lab) { lab throws in
            // Round-robin alone would rotate; affinity pins each address to its first server.
            for source in ["127.0.0.2", "127.0.0.3", "127.0.0.4"] {
                let first = try lab.whoAnswers(source: source)
                for _ in 0..<5 { #expect(try lab.whoAnswers(source: source) == first) }
            }
            let spread = Set(try (5..<11).map { try lab.whoAnswers(source: "127.0.0.\($0)") })
            #expect(spread.count == 3)
        }
    }

    @Test func affinityExpires() async throws {
        let lab = try await RelayLab(backends: ["a", "b"]) {
            $0.relays[0].persistence = .sourceAddress(timeout: .seconds(1), capacity: 1000)
        }
        try await using(lab) { lab throws in
            let first = try lab.whoAnswers(source: "127.0.0.9")
            _ = try lab.whoAnswers(source: "127.0.0.10")  // moves the round-robin on
            #expect(try lab.whoAnswers(source: "127.0.0.9") == first)
            lab.time.advance(by: .milliseconds(1100))
            // Expired: the next connection is balanced afresh, and round-robin now says the other one.
            let afresh = try lab.whoAnswers(source: "127.0.0.9")
            #expect(afresh != first)
        }
    }

    @Test func affinityMovesWhenItsServerDies() async throws {
        let check = Check(kind: .tcp, interval: .milliseconds(100), timeout: .milliseconds(80), rise: 1, fall: 1)
        let lab = try await RelayLab(check: check) {
            $0.relays[0].persistence = .sourceAddress(timeout: .seconds(60), capacity: 1000)
        }
        try await using(lab) { lab throws in
            let home = try #require(try lab.whoAnswers(source: "127.0.0.20"))
            await lab.backend(home).stop()
            let moved = try #require(try lab.whoAnswers(source: "127.0.0.20"))
            #expect(moved != home)
            for _ in 0..<5 { #expect(try lab.whoAnswers(source: "127.0.0.20") == moved) }
        }
    }

    @Test func backupsServeOnlyWhenNoPrimaryIsUp() async throws {
        let check = Check(kind: .tcp, interval: .milliseconds(100), timeout: .milliseconds(80), rise: 1, fall: 1)
        let lab = try await RelayLab(backends: ["a", "b", "x"], backup: ["x"], check: check)
        try await using(lab) { lab throws in
            #expect(await eventually { lab.node.state.current.health(of: lab.key("x"))?.status == .up })
            #expect(try counts(lab, connections: 10) == ["a": 5, "b": 5])
            let aPort = lab.backend("a").port
            await lab.backend("a").stop()
            await lab.backend("b").stop()
            #expect(await eventually { lab.node.state.current.pools["pool"]!.isOnBackups })
            #expect(try counts(lab, connections: 5) == ["x": 5])
            let a = try await TestBackend.start(name: "a", port: aPort)
            try await using(a) { a throws in
                #expect(await eventually { !lab.node.state.current.pools["pool"]!.isOnBackups })
                #expect(try counts(lab, connections: 5) == ["a": 5])
            }
        }
    }

    @Test func drainedServerKeepsItsConnectionsAndGetsNoNewOnes() async throws {
        let lab = try await RelayLab(backends: ["a", "b"])
        try await using(lab) { lab throws in
            let held = try TestSocket(port: lab.relayPort)
            let name = try #require(try held.readLine())
            try lab.node.state.setDrained(true, for: lab.key(name))
            let other = name == "a" ? "b" : "a"
            #expect(try counts(lab, connections: 6) == [other: 6])
            try held.send("still here\n")
            #expect(try held.readLine() == "still here")
            try lab.node.state.setDrained(false, for: lab.key(name))
            #expect(try counts(lab, connections: 4) == ["a": 2, "b": 2])
        }
    }

    @Test func noServerUpClosesTheClient() async throws {
        let lab = try await RelayLab(backends: ["a"])
        try await using(lab) { lab throws in
            try lab.node.state.setDrained(true, for: lab.key("a"))
            let socket = try TestSocket(port: lab.relayPort)
            #expect(socket.isClosedByPeer())
        }
    }
}
