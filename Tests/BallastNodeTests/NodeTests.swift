import BallastCodecs
import BallastCore
import BallastNode
import BallastTestSupport
import Logging
import NIOPosix
import Testing

/// Reloads and shutdown of a node in this process.
@Suite(.serialized, .tags(.timed)) struct NodeTests {
    /// Applies `change` to the lab's topology plus a relay on `squatter`'s port: the reload must
    /// be refused and publish nothing. Returns the state after it.
    func refusedReload(_ lab: RelayLab, squatter: TestBackend, _ change: (inout Topology) -> Void) async -> State {
        let before = lab.node.state.current
        var topology = before.topology
        change(&topology)
        topology.relays.append(
            Relay(
                name: "taken", listen: Endpoint(address: IPAddress(v4: 127, 0, 0, 1), port: squatter.port), pool: "pool"
            ))
        await #expect(throws: NodeError.self) { try await lab.node.apply(topology) }
        let after = lab.node.state.current
        #expect(after.topology == before.topology)
        return after
    }

    @Test func reloadKeepsUnchangedListenersAndTheirConnections() async throws {
        let lab = try await RelayLab(backends: ["a", "b"]) { $0.relays[0].maxConnections = 1 }
        try await using(lab) { lab throws in
            let held = try TestSocket(port: lab.relayPort)
            let first = try #require(try held.readLine())
            // At the limit: this client waits in the listening socket's backlog. Were the socket
            // closed and opened again by the reload, the kernel would reset it.
            let queued = try TestSocket(port: lab.relayPort, timeout: .seconds(5))

            var topology = lab.node.state.current.topology
            topology.relays[0].mode = .sourceHash
            topology.relays[0].timeouts.idle = .seconds(600)
            topology.relays[0].maxConnections = 100
            let summary = try await lab.node.apply(topology)
            #expect(summary.changed == ["front"])
            #expect(try queued.readLine() != nil)
            try held.send("across the reload\n")
            #expect(try held.readLine() == "across the reload")
            // New connections follow the new mode: one client address, always the same server.
            let answers = Set(try (0..<6).map { _ in try lab.whoAnswers(source: "127.0.0.44") })
            #expect(answers.count == 1)
            _ = first
        }
    }

    @Test func reloadWithNothingChangedChangesNothing() async throws {
        let lab = try await RelayLab()
        try await using(lab) { lab throws in
            let summary = try await lab.node.apply(lab.node.state.current.topology)
            #expect(summary.unchanged == ["front"])
            #expect(summary.added.isEmpty && summary.changed.isEmpty && summary.removed.isEmpty)
        }
    }

    @Test func reloadBindsNewRelaysAndRetiresRemovedOnes() async throws {
        let lab = try await RelayLab(backends: ["a"])
        try await using(lab) { lab throws in
            let held = try TestSocket(port: lab.relayPort)
            #expect(try held.readLine() == "a")
            let newPort = Ports.free()
            var topology = lab.node.state.current.topology
            topology.relays = [
                Relay(
                    name: "moved", listen: Endpoint(address: IPAddress(v4: 127, 0, 0, 1), port: newPort), pool: "pool")
            ]
            let summary = try await lab.node.apply(topology)
            #expect(summary.added == ["moved"])
            #expect(summary.removed == ["front"])
            #expect(throws: TestSocket.Failure.self) { _ = try TestSocket(port: lab.relayPort) }
            let fresh = try TestSocket(port: newPort)
            #expect(try fresh.readLine() == "a")
            // The removed relay's open connection goes on until it ends.
            try held.send("old relay\n")
            #expect(try held.readLine() == "old relay")
            #expect(await lab.node.activeConnections == 2)
        }
    }

    @Test func aPortInUseRefusesTheReloadAndKeepsTheOldConfig() async throws {
        let lab = try await RelayLab(backends: ["a"])
        try await using(lab) { lab throws in
            let squatter = try await TestBackend.start(name: "squatter")
            try await using(squatter) { squatter throws in
                let after = await refusedReload(lab, squatter: squatter) { $0.relays[0].mode = .random }
                #expect(after.relay(named: "front")?.mode == .roundRobin)
                #expect(try lab.whoAnswers() == "a")
            }
        }
    }

    /// A refused reload publishes nothing: a server known to be down stays out of rotation even
    /// though the refused config changed its pool's check (which, published, would have reset its
    /// health to unknown, and unknown takes traffic).
    @Test func aRefusedReloadLeavesADownServerOutOfRotation() async throws {
        let check = Check(kind: .tcp, interval: .milliseconds(100), timeout: .milliseconds(80), rise: 1, fall: 1)
        let lab = try await RelayLab(backends: ["a", "b"], check: check)
        try await using(lab) { lab throws in
            await lab.backend("b").stop()
            #expect(await eventually { lab.node.state.current.health(of: lab.key("b"))?.status == .down })
            let squatter = try await TestBackend.start(name: "squatter")
            try await using(squatter) { squatter throws in
                let after = await refusedReload(lab, squatter: squatter) { topology in
                    topology.pools[0].check?.interval = .seconds(30)
                    topology.pools[0].check?.fall = 3
                }
                #expect(after.health(of: lab.key("b"))?.status == .down)
                // Three check intervals on (a, probed by the old check, sees three more probes), every
                // client still lands on a.
                for _ in 0..<10 { #expect(try lab.whoAnswers() == "a") }
                let accepted = lab.backend("a").accepted
                #expect(await eventually { lab.backend("a").accepted >= accepted + 3 })
                #expect(lab.node.state.current.health(of: lab.key("b"))?.status == .down)
                for _ in 0..<10 { #expect(try lab.whoAnswers() == "a") }
            }
        }
    }

    /// A reload is one transaction: when the DNS listener it moves to cannot be bound, the relay
    /// it added is unbound again, the relay it changed from tcp to http is a tcp relay again on
    /// the same socket address, DNS answers where it did, and nothing is published.
    @Test func aReloadFailingAtItsDNSStepUndoesEveryEarlierStep() async throws {
        let dnsPort = Ports.free()
        let zone = Zone(
            name: DomainName("lab.example")!,
            soa: Zone.SOA(primary: DomainName("ns1.lab.example")!, mailbox: DomainName("hostmaster.lab.example")!),
            ttl: 30,
            records: [ZoneRecord(name: DomainName("www.lab.example")!, ttl: 30, value: .pool("pool"))])
        let lab = try await RelayLab(backends: ["a"]) { topology in
            topology.dns.listeners = [Endpoint(address: IPAddress(v4: 127, 0, 0, 1), port: dnsPort)]
            topology.zones = [zone]
        }
        try await using(lab) { lab throws in
            let squatter = try await TestBackend.start(name: "squatter")
            try await using(squatter) { squatter throws in
                let before = lab.node.state.current
                let addedPort = Ports.free()
                var topology = before.topology
                topology.relays[0].kind = .http(HTTPSettings())
                topology.relays.append(
                    Relay(
                        name: "added", listen: Endpoint(address: IPAddress(v4: 127, 0, 0, 1), port: addedPort),
                        pool: "pool"))
                topology.dns.listeners = [Endpoint(address: IPAddress(v4: 127, 0, 0, 1), port: squatter.port)]
                await #expect(throws: NodeError.self) { try await lab.node.apply(topology) }

                #expect(lab.node.state.current.topology == before.topology)
                #expect(lab.node.state.current.version == before.version)
                #expect(throws: TestSocket.Failure.self) { _ = try TestSocket(port: addedPort) }
                // The front relay speaks bytes again: the backend's greeting, not an HTTP answer.
                #expect(try lab.whoAnswers() == "a")
                let answer = try DNSQuery.ask(port: dnsPort, "www.lab.example", type: 1)
                #expect(answer.answers.count == 1)
            }
        }
    }

    @Test func startRefusesAPortInUseAndBindsNothing() async throws {
        let squatter = try await TestBackend.start(name: "squatter")
        try await using(squatter) { squatter throws in
            let free = Ports.free()
            let topology = Topology(
                pools: [
                    Pool(
                        name: "p",
                        servers: [Server(name: "s", address: IPAddress(v4: 127, 0, 0, 1), port: squatter.port)])
                ],
                relays: [
                    Relay(name: "ok", listen: Endpoint(address: IPAddress(v4: 127, 0, 0, 1), port: free), pool: "p"),
                    Relay(
                        name: "taken", listen: Endpoint(address: IPAddress(v4: 127, 0, 0, 1), port: squatter.port),
                        pool: "p"),
                ])
            let node = try Node(
                topology: topology, group: MultiThreadedEventLoopGroup.singleton, logger: Logger(label: "test"),
                relayThreads: 1)
            do {
                try await node.start()
                Issue.record("started on a port in use")
            } catch {
                #expect("\(error)".contains("relay taken cannot listen on 127.0.0.1:\(squatter.port)"))
            }
            #expect(throws: TestSocket.Failure.self) { _ = try TestSocket(port: free) }
        }
    }

    @Test func shutdownLetsOpenConnectionsFinish() async throws {
        let lab = try await RelayLab(backends: ["a"])
        try await using(lab) { lab throws in
            let held = try TestSocket(port: lab.relayPort)
            #expect(try held.readLine() == "a")
            let port = lab.relayPort
            let stopping = Task { await lab.node.shutdown(grace: .seconds(5)) }
            // No new connections once shutdown starts...
            #expect(await eventually { (try? TestSocket(port: port)) == nil })
            // ...but the open one still works until its client ends it.
            try held.send("draining\n")
            #expect(try held.readLine() == "draining")
            let closedAt = ContinuousClock.now
            held.close()
            await stopping.value
            #expect(ContinuousClock.now - closedAt < .seconds(2))
        }
    }

    @Test func shutdownClosesWhatIsLeftAtTheDeadline() async throws {
        let lab = try await RelayLab(backends: ["a"])
        try await using(lab) { lab throws in
            let held = try TestSocket(port: lab.relayPort, timeout: .seconds(5))
            #expect(try held.readLine() == "a")
            let started = ContinuousClock.now
            await lab.node.shutdown(grace: .milliseconds(500))
            let took = ContinuousClock.now - started
            #expect(took >= .milliseconds(450))
            #expect(took < .seconds(3))
            #expect(held.isClosedByPeer())
        }
    }
}
