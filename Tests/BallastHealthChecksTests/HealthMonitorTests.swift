import BallastCore
import BallastHealthChecks
import BallastTestSupport
import Logging
import NIOCore
import NIOPosix
import Testing

@Suite(.tags(.timed)) struct HealthMonitorTests {
    let interval = Duration.milliseconds(100)
    let timeout = Duration.milliseconds(80)

    func topology(ports: [Int], rise: Int = 2, fall: Int = 3) -> Topology {
        let check = Check(kind: .tcp, interval: interval, timeout: timeout, rise: rise, fall: fall)
        let servers = ports.enumerated().map {
            Server(name: "s\($0.offset)", address: IPAddress(v4: 127, 0, 0, 1), port: $0.element)
        }
        return Topology(pools: [Pool(name: "p", check: check, servers: servers)])
    }

    func status(_ published: PublishedState, _ index: Int) -> HealthStatus? {
        published.current.health(of: ServerKey(pool: "p", server: "s\(index)"))?.status
    }

    /// The bound: a dead server is out of rotation within interval x fall.
    @Test func deadServerOutOfRotationWithinIntervalTimesFall() async throws {
        let alive = try await TestBackend.start(name: "alive")
        let dying = try await TestBackend.start(name: "dying")
        // A loop of its own, as a node gives its checks: the shared one is busy with other tests' servers.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        try await using(group) { group throws in
            try await using([alive, dying]) { _ throws in
                let published = PublishedState(topology: topology(ports: [alive.port, dying.port]))
                let monitor = HealthMonitor(state: published, group: group, logger: Logger(label: "test"))
                defer { monitor.stopAll() }
                monitor.sync(with: published.current.topology)
                #expect(await eventually { status(published, 0) == .up && status(published, 1) == .up })

                await dying.stop()
                let killed = ContinuousClock.now
                #expect(
                    await eventually(timeout: .seconds(3), every: .milliseconds(5)) { status(published, 1) == .down })
                let detection = ContinuousClock.now - killed
                // interval x fall, plus scheduling latency on a loaded machine.
                #expect(detection <= interval * 3 + .milliseconds(150), "took \(detection)")
                #expect(published.current.pools["p"]!.primaries.members.map(\.server.name) == ["s0"])
                #expect(status(published, 0) == .up)
            }
        }
    }

    @Test func returnsAfterRise() async throws {
        let backend = try await TestBackend.start(name: "b")
        let port = backend.port
        let published = PublishedState(topology: topology(ports: [port], rise: 3, fall: 1))
        let monitor = HealthMonitor(
            state: published, group: MultiThreadedEventLoopGroup.singleton, logger: Logger(label: "test"))
        defer { monitor.stopAll() }
        monitor.sync(with: published.current.topology)
        #expect(await eventually { status(published, 0) == .up })
        await backend.stop()
        #expect(await eventually { status(published, 0) == .down })
        // Taken before the restart: the test task may resume late on a loaded machine.
        let returned = ContinuousClock.now
        let back = try await TestBackend.start(name: "b", port: port)
        await using(back) { back in
            #expect(await eventually { status(published, 0) == .up })
            // Three passing probes are needed: at least two intervals after the first.
            #expect(ContinuousClock.now - returned >= interval * 2 - .milliseconds(20))
        }
    }

    @Test func observedFailureMakesSuspectAndProbesAtOnce() async throws {
        let backend = try await TestBackend.start(name: "b")
        await using(backend) { backend in
            // A long interval: only the immediate probe can clear the suspicion quickly.
            var t = topology(ports: [backend.port])
            t.pools[0].check?.interval = .seconds(30)
            t.pools[0].check?.timeout = .seconds(1)
            let published = PublishedState(topology: t)
            let monitor = HealthMonitor(
                state: published, group: MultiThreadedEventLoopGroup.singleton, logger: Logger(label: "test"))
            defer { monitor.stopAll() }
            monitor.sync(with: t)
            #expect(await eventually { status(published, 0) == .up })
            let updates = published.updates(bufferingPolicy: .unbounded)
            monitor.observedFailure(
                of: ProbeKey(server: ServerKey(pool: "p", server: "s0"), port: backend.port), reason: "refused once")
            var seen: [HealthStatus] = []
            // Bounded: the probe's timeout is 1 s, and each update is one transition.
            for await state in updates.prefix(4) {
                seen.append(state.health(of: ServerKey(pool: "p", server: "s0"))!.status)
                if seen.last == .up { break }
            }
            #expect(seen == [.suspect, .up])
        }
    }

    @Test func syncKeepsUnchangedCheckersAndStopsRemovedOnes() async throws {
        let a = try await TestBackend.start(name: "a")
        let b = try await TestBackend.start(name: "b")
        try await using([a, b]) { _ throws in
            let published = PublishedState(topology: topology(ports: [a.port, b.port]))
            let monitor = HealthMonitor(
                state: published, group: MultiThreadedEventLoopGroup.singleton, logger: Logger(label: "test"))
            defer { monitor.stopAll() }
            monitor.sync(with: published.current.topology)
            #expect(await eventually { status(published, 0) == .up && status(published, 1) == .up })
            let smaller = topology(ports: [a.port])
            published.replaceTopology(smaller)
            monitor.sync(with: smaller)
            #expect(status(published, 0) == .up)  // kept, not reset
            // A probe of b already under way may still land, within the interval it started in: once
            // a has been probed twice more (a full interval), b hears nothing more while a, kept, goes
            // on being probed.
            let probedAtSync = a.accepted
            #expect(await eventually { a.accepted >= probedAtSync + 2 })
            let settled = b.accepted
            let keptBefore = a.accepted
            #expect(
                await eventually(timeout: .seconds(2)) { a.accepted >= keptBefore + 3 },
                "the kept server is no longer probed")
            #expect(b.accepted == settled, "the removed server is still probed")
        }
    }
}
