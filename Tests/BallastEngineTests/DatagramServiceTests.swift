import BallastCore
import BallastEngine
import CBallastLinux
import Foundation
import Logging
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// UDP on the engine over real sockets on 127.0.0.1: datagrams read in batches by every loop,
/// answered from the address they were sent to, oversized and random ones survived.
@Suite struct DatagramServiceTests {
    /// Answers each datagram with its bytes reversed; notes what it saw.
    final class Reverser: EngineDatagramService {
        let id = EngineListenerID.next()
        let fd: Int32
        let endpoint: Endpoint
        let maximumDatagramSize: Int
        /// CPU each answer costs, to keep a loop busy.
        let work: Duration
        let destinations = Mutex<Set<String>>([])
        let oversized = Mutex<[Int]>([])
        let answeredPerLoop = Mutex<[Int: Int]>([:])

        init(maximumDatagramSize: Int = 65_535, work: Duration = .zero) throws {
            self.maximumDatagramSize = maximumDatagramSize
            self.work = work
            var address = ballast_address(Endpoint("127.0.0.1:1")!)
            address.port = 0  // any free port
            fd = ballast_udp_bind(&address, 0)
            guard fd >= 0 else { throw SystemError(code: -fd, operation: "bind UDP") }
            var bound = ballast_address()
            _ = ballast_local_address(fd, &bound)
            endpoint = bound.endpoint!
        }

        func answer(
            _ datagram: UnsafeRawBufferPointer, from sender: ballast_address, to destination: ballast_address,
            into answer: UnsafeMutableRawBufferPointer, context: LoopContext
        ) -> Int {
            var local = destination
            local.port = 0
            let name = local.endpoint.map { "\($0.address)" } ?? "unknown"
            destinations.withLock { _ = $0.insert(name) }
            answeredPerLoop.withLock { $0[context.loop.index, default: 0] += 1 }
            if work > .zero {
                let clock = ContinuousClock()
                let end = clock.now + work
                while clock.now < end {}
            }
            for (offset, byte) in datagram.reversed().enumerated() { answer[offset] = byte }
            return datagram.count
        }

        func droppedOversized(length: Int, from sender: ballast_address, context: LoopContext) {
            oversized.withLock { $0.append(length) }
        }

        func droppedAnswers(_ count: Int, context: LoopContext) {}

        func finishedBatch(of count: Int, context: LoopContext) {}
    }

    /// A UDP client connected to `endpoint`: the kernel hands it only datagrams whose source
    /// is that address and port, so every answer it reads left from the address it asked.
    final class Client {
        let fd: Int32

        init(to endpoint: Endpoint) throws {
            fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
            guard fd >= 0 else { throw SystemError(code: errno, operation: "socket") }
            var timeout = timeval(tv_sec: 0, tv_usec: 300_000)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var size: Int32 = 4 << 20
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, 4)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(endpoint.port).bigEndian)
            address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
            let result = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard result == 0 else { throw SystemError(code: errno, operation: "connect") }
        }

        deinit { Glibc.close(fd) }

        func send(_ bytes: [UInt8]) {
            _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, 0) }
        }

        /// The next datagram, or nil after the 300 ms timeout.
        func receive() -> [UInt8]? {
            var buffer = [UInt8](repeating: 0, count: 70_000)
            let count = buffer.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress, $0.count, 0) }
            return count < 0 ? nil : Array(buffer[0..<count])
        }
    }

    private func withService<T>(
        _ service: Reverser, _ body: (Engine) async throws -> T
    ) async throws -> T {
        let engine = try Engine(threads: 2, bufferSize: 16 * 1024, logger: Logger(label: "datagram-test"))
        await engine.onEveryLoop { $0.addDatagramService(service) }
        do {
            let result = try await body(engine)
            await engine.onEveryLoop { $0.removeDatagramService(service) }
            await engine.shutdown()
            return result
        } catch {
            await engine.shutdown()
            throw error
        }
    }

    @Test func everyDatagramIsAnsweredFromTheAddressAsked() async throws {
        let service = try Reverser()
        defer { Glibc.close(service.fd) }
        try await withService(service) { _ in
            let client = try Client(to: service.endpoint)
            var sizes = [1, 2, 7, 512, 1_400, 4_096, 9_000, 65_507]
            sizes += (0..<200).map { 1 + ($0 * 37) % 1_500 }
            var answered = 0
            for (index, size) in sizes.enumerated() {
                let query = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ index) }
                client.send(query)
                let answer = try #require(client.receive(), "no answer to datagram \(index) of \(size) bytes")
                #expect(answer == query.reversed(), "datagram \(index)")
                answered += 1
            }
            #expect(answered == sizes.count)
        }
        #expect(service.destinations.withLock { $0 } == ["127.0.0.1"])
    }

    /// Waves of 100 datagrams sent at once from one socket (what fits the socket's default
    /// receive buffer: UDP drops what overflows it), each wave read in batches and answered.
    @Test func burstsFromOneSenderAreReadInBatchesAndAllAnswered() async throws {
        let service = try Reverser()
        defer { Glibc.close(service.fd) }
        let waves = 20
        let wave = 100
        let missing = try await withService(service) { _ in
            let client = try Client(to: service.endpoint)
            var missing = 0
            for first in stride(from: 0, to: waves * wave, by: wave) {
                for index in first..<(first + wave) {
                    client.send(withUnsafeBytes(of: UInt32(index).bigEndian) { Array($0.reversed()) })
                }
                var seen = Set<UInt32>()
                for _ in 0..<wave {
                    guard let answer = client.receive(), answer.count == 4 else { break }
                    seen.insert(answer.withUnsafeBytes { UInt32(bigEndian: $0.loadUnaligned(as: UInt32.self)) })
                }
                missing += (first..<(first + wave)).filter { !seen.contains(UInt32($0)) }.count
            }
            return missing
        }
        #expect(missing == 0)
        #expect(service.answeredPerLoop.withLock { $0.values.reduce(0, +) } == waves * wave)
    }

    /// One sender whose datagrams keep a loop busy: the socket wakes the other loop meanwhile,
    /// so both answer (the kernel wakes an exclusive waiter that is waiting, not a busy one).
    @Test func oneBusySenderIsAnsweredByEveryLoop() async throws {
        let service = try Reverser(work: .microseconds(50))
        defer { Glibc.close(service.fd) }
        try await withService(service) { _ in
            let client = try Client(to: service.endpoint)
            for round in 0..<20 {
                for index in 0..<100 { client.send([UInt8(round), UInt8(index)]) }
                for _ in 0..<100 where client.receive() == nil { break }
            }
        }
        let perLoop = service.answeredPerLoop.withLock { $0 }
        #expect(perLoop.values.reduce(0, +) == 2_000)
        #expect(perLoop.count == 2 && perLoop.values.allSatisfy { $0 > 0 }, "\(perLoop)")
    }

    @Test func oversizedEmptyAndRandomDatagramsLeaveTheServiceAnswering() async throws {
        let service = try Reverser(maximumDatagramSize: 512)
        defer { Glibc.close(service.fd) }
        try await withService(service) { _ in
            let client = try Client(to: service.endpoint)
            client.send([UInt8](repeating: 1, count: 513))
            client.send([UInt8](repeating: 2, count: 65_507))
            client.send([])
            client.send([9, 8, 7])
            #expect(client.receive() == [7, 8, 9], "an empty datagram gets no answer; the next does")
            var generator = SystemRandomNumberGenerator()
            for round in 0..<300 {
                let size = Int.random(in: 1...512, using: &generator)
                let query = (0..<size).map { _ in UInt8.random(in: 0...255, using: &generator) }
                client.send(query)
                #expect(client.receive() == query.reversed(), "random datagram \(round)")
            }
        }
        #expect(service.oversized.withLock { $0.sorted() } == [513, 65_507])
    }

    @Test func aRemovedServiceIsNoLongerRead() async throws {
        let service = try Reverser()
        defer { Glibc.close(service.fd) }
        let engine = try Engine(threads: 2, bufferSize: 16 * 1024, logger: Logger(label: "datagram-test"))
        await engine.onEveryLoop { $0.addDatagramService(service) }
        let client = try Client(to: service.endpoint)
        client.send([1, 2])
        #expect(client.receive() == [2, 1])
        await engine.onEveryLoop { $0.removeDatagramService(service) }
        client.send([3, 4])
        #expect(client.receive() == nil)
        await engine.shutdown()
    }
}
