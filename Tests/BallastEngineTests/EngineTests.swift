import BallastCore
import BallastEngine
import BallastTestSupport
import CBallastLinux
import Foundation
import Logging
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The engine's accept path over real sockets on 127.0.0.1: connections spread over its loops.
@Suite struct EngineTests {
    /// Notes which loop each accepted connection lands on, and holds it open.
    final class CountingListener: EngineListener {
        let id = EngineListenerID.next()
        let fd: Int32
        let endpoint: Endpoint
        let perLoop = Mutex<[Int: Int]>([:])

        init() throws {
            var address = ballast_address(Endpoint("127.0.0.1:1")!)
            address.port = 0
            fd = ballast_listen(&address, 512)
            guard fd >= 0 else { throw SystemError(code: -fd, operation: "listen") }
            var bound = ballast_address()
            _ = ballast_local_address(fd, &bound)
            endpoint = bound.endpoint!
        }

        func reserveConnection() -> Bool { true }
        var hasRoom: Bool { true }
        func releaseConnection(on loop: EngineLoop) {}
        func loopPaused(_ loop: EngineLoop) {}

        func makeConnection(fd: Int32, peer: Endpoint?, slot: Int, context: LoopContext) -> any EngineConnection {
            perLoop.withLock { $0[context.loop.index, default: 0] += 1 }
            return Held(slot: slot, listenerID: id, fd: fd)
        }

        var accepted: Int { perLoop.withLock { $0.values.reduce(0, +) } }
    }

    final class Held: EngineConnection {
        let slot: Int
        let listenerID: Int
        let fd: Int32
        var deadline: UInt64 { 0 }

        init(slot: Int, listenerID: Int, fd: Int32) {
            self.slot = slot
            self.listenerID = listenerID
            self.fd = fd
        }

        func start(context: LoopContext) {}
        func handle(side: ConnectionSide, flags: UInt32, context: LoopContext) {}
        func timerFired(at time: UInt64, context: LoopContext) {}
        func continueMoving(context: LoopContext) {}
        func continueAfterPoll(context: LoopContext) {}
        func close(context: LoopContext) {
            Glibc.close(fd)
            context.release(self)
        }
    }

    /// Clients that come one after another wake the same loop each time (the kernel wakes the
    /// first exclusive waiter), so without the hand-over to the less loaded loop one thread
    /// would hold them all.
    @Test func acceptedConnectionsAreSharedBetweenLoops() async throws {
        let engine = try Engine(threads: 2, bufferSize: 16 * 1024, logger: Logger(label: "engine-test"))
        let listener = try CountingListener()
        await engine.onEveryLoop { $0.addListener(listener) }
        var clients: [Int32] = []
        defer { for client in clients { Glibc.close(client) } }
        let count = 40
        for index in 0..<count {
            let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(listener.endpoint.port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(client, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            try #require(connected == 0)
            clients.append(client)
            // One at a time: each is accepted before the next comes.
            try #require(await eventually(timeout: .seconds(1), every: .milliseconds(5)) { listener.accepted > index })
        }
        let perLoop = listener.perLoop.withLock { $0 }
        #expect(perLoop.values.reduce(0, +) == count)
        #expect(perLoop.count == 2 && perLoop.values.allSatisfy { $0 >= count / 3 }, "\(perLoop)")
        await engine.onEveryLoop { $0.removeListener(listener) }
        await engine.shutdown()
        Glibc.close(listener.fd)
    }

    /// Every loop thread runs under SCHED_BATCH, so that its wake-ups do not preempt the
    /// servers and clients it shares cores with; the threads that start it keep their policy.
    @Test func loopThreadsRunUnderBatchScheduling() async throws {
        let engine = try Engine(threads: 2, bufferSize: 16 * 1024, logger: Logger(label: "engine-test"))
        let policies = Mutex<[Int32]>([])
        await engine.onEveryLoop { _ in
            let policy = ballast_scheduling_policy()
            policies.withLock { $0.append(policy) }
        }
        await engine.shutdown()
        #expect(policies.withLock { $0 } == [Int32(ballast_policy_batch), Int32(ballast_policy_batch)])
        #expect(ballast_scheduling_policy() == Int32(ballast_policy_other))
    }
}
