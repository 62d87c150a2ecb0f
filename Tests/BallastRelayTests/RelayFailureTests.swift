import BallastCore
import BallastNode
import BallastTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Servers that die, refuse or hang: what clients see, and how fast Ballast reacts.
@Suite(.serialized, .tags(.timed)) struct RelayFailureTests {
    /// The test: a server killed mid-test. Clients keep connecting throughout and
    /// none fails (redispatch hides the refusals); the server is out of rotation within
    /// interval x fall, and no connection is tried on it after that.
    @Test func serverKilledMidTest() async throws {
        let interval = Duration.milliseconds(200)
        let check = Check(kind: .tcp, interval: interval, timeout: .milliseconds(150), rise: 2, fall: 3)
        let lab = try await RelayLab(check: check)
        try await using(lab) { lab throws in
            #expect(await eventually { lab.node.state.current.health(of: lab.key("b"))?.status == .up })
            for _ in 0..<9 { #expect(try lab.whoAnswers() != nil) }

            await lab.backend("b").stop()
            let killed = ContinuousClock.now
            var failures = 0
            var answeredByB = 0
            var outAt: ContinuousClock.Instant?
            var failedConnectsAtDetection: UInt64 = 0
            while ContinuousClock.now - killed < interval * 6 {
                if outAt == nil,
                    lab.node.state.current.relayPools["front"]!.primaries.members.allSatisfy({ $0.server.name != "b" })
                {
                    outAt = ContinuousClock.now
                    failedConnectsAtDetection = lab.node.state.current.loads[lab.key("b")]!.failedConnects
                }
                switch try lab.whoAnswers() {
                case nil: failures += 1
                case "b": answeredByB += 1
                default: break
                }
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(failures == 0)
            #expect(answeredByB == 0)
            let detected = try #require(outAt)
            #expect(
                detected - killed <= interval * 3 + .milliseconds(150), "out of rotation after \(detected - killed)")
            #expect(lab.node.state.current.loads[lab.key("b")]!.failedConnects == failedConnectsAtDetection)
        }
    }

    /// Connection refused: retried once on another server before the client sees anything.
    @Test func redispatchOnRefusal() async throws {
        let lab = try await RelayLab(backends: ["a", "b"])  // no check: only redispatch protects clients
        try await using(lab) { lab throws in
            await lab.backend("a").stop()
            for _ in 0..<10 { #expect(try lab.whoAnswers() == "b") }
            #expect(lab.node.state.current.loads[lab.key("a")]!.failedConnects > 0)
        }
    }

    @Test func refusalMarksAServerSuspectAtOnce() async throws {
        // A slow check: only the relay's observation can take the server out this fast.
        let check = Check(kind: .tcp, interval: .seconds(30), timeout: .seconds(1), rise: 1, fall: 3)
        let lab = try await RelayLab(backends: ["a", "b"], check: check)
        try await using(lab) { lab throws in
            #expect(await eventually { lab.node.state.current.health(of: lab.key("a"))?.status == .up })
            await lab.backend("a").stop()
            let refused = ContinuousClock.now
            for _ in 0..<2 { #expect(try lab.whoAnswers() == "b") }
            // The report reaches the health monitor in well under a probe interval (30 s here).
            #expect(
                await eventually(timeout: .seconds(2)) {
                    let status = lab.node.state.current.health(of: lab.key("a"))?.status
                    return status == .suspect || status == .down
                })
            #expect(ContinuousClock.now - refused < .seconds(2))
            let failed = lab.node.state.current.loads[lab.key("a")]!.failedConnects
            for _ in 0..<10 { #expect(try lab.whoAnswers() == "b") }
            #expect(lab.node.state.current.loads[lab.key("a")]!.failedConnects == failed)
        }
    }

    @Test func bothAttemptsFailClosesTheClient() async throws {
        let lab = try await RelayLab(backends: ["a", "b", "c"])
        try await using(lab) { lab throws in
            await lab.backend("a").stop()
            await lab.backend("b").stop()
            await lab.backend("c").stop()
            let socket = try TestSocket(port: lab.relayPort)
            #expect(socket.isClosedByPeer())
            let failed = ["a", "b", "c"].map { lab.node.state.current.loads[lab.key($0)]!.failedConnects }.reduce(0, +)
            #expect(failed == 2)
        }
    }

    /// A server whose accept queue is full drops SYNs: the connect timeout fires and the
    /// client is redispatched.
    @Test func connectTimeoutRedispatches() async throws {
        let (blackhole, port, fillers) = try Self.saturatedListener()
        defer {
            Glibc.close(blackhole)
            for fd in fillers { Glibc.close(fd) }
        }
        let lab = try await RelayLab(backends: ["b"]) { topology in
            topology.relays[0].timeouts.connect = .milliseconds(300)
            topology.pools[0].servers.insert(
                Server(name: "hole", address: IPAddress(v4: 127, 0, 0, 1), port: port), at: 0)
        }
        try await using(lab) { lab throws in
            let started = ContinuousClock.now
            #expect(try lab.whoAnswers() == "b")  // round-robin tries the hole first
            let elapsed = ContinuousClock.now - started
            #expect(elapsed >= .milliseconds(250), "answered after \(elapsed): the connect did not wait")
            #expect(elapsed < .seconds(2))
            #expect(lab.node.state.current.loads[lab.key("hole")]!.failedConnects == 1)
        }
    }

    /// A listening socket with backlog 0 and its queue filled: further SYNs are dropped.
    static func saturatedListener() throws -> (Int32, Int, [Int32]) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        _ = TestSocket.withAddress("127.0.0.1", port: 0) { bind(fd, $0, $1) }
        listen(fd, 0)
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        let port = Int(UInt16(bigEndian: address.sin_port))
        var fillers: [Int32] = []
        for _ in 0..<3 {
            let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            _ = TestSocket.withAddress("127.0.0.1", port: port) { connect(client, $0, $1) }
            fillers.append(client)
        }
        usleep(100_000)
        return (fd, port, fillers)
    }
}
