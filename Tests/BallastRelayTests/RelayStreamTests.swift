import BallastCodecs
import BallastCore
import BallastNode
import BallastTestSupport
import Foundation
import Testing

/// The byte path: half-close, backpressure, limits, timeouts and PROXY headers.
@Suite(.serialized, .tags(.timed)) struct RelayStreamTests {
    @Test func clientHalfClosePassesThrough() async throws {
        let lab = try await RelayLab(backends: ["a"])
        try await using(lab) { lab throws in
            let socket = try TestSocket(port: lab.relayPort)
            #expect(try socket.readLine() == "a")
            try socket.send("request\n")
            socket.shutdownWrite()
            // The server saw our EOF, answered, and half-closed in turn.
            #expect(try socket.readLine() == "request")
            #expect(try socket.readLine() == "EOF")
            #expect(try socket.read().isEmpty)
        }
    }

    @Test func serverHalfClosePassesThrough() async throws {
        let lab = try await RelayLab(backends: ["a"], behaviour: .banner)
        try await using(lab) { lab throws in
            let socket = try TestSocket(port: lab.relayPort)
            #expect(try socket.readLine() == "a")
            #expect(try socket.read().isEmpty)  // the server's FIN reached us
            // Our direction is still open: the server keeps reading.
            let payload = [UInt8](repeating: 0x41, count: 100_000)
            try socket.send(payload)
            #expect(await eventually { lab.backend("a").received == payload.count })
            socket.close()
            #expect(await eventually { lab.backend("a").open == 0 })
        }
    }

    /// A server streams 256 MiB to a client that does not read for a while: Ballast stops
    /// reading from the server (it cannot send more than the buffers hold), then every byte
    /// arrives intact once the client reads.
    @Test func backpressureBoundsWhatASlowClientCosts() async throws {
        let total = 256 * 1024 * 1024
        let lab = try await RelayLab(backends: ["big"], behaviour: .stream(bytes: total))
        try await using(lab) { lab throws in
            let socket = try TestSocket(port: lab.relayPort, timeout: .seconds(10))
            // Stalled: the server has sent nothing more in 300 ms.
            var stalled = -1
            #expect(
                await eventually(timeout: .seconds(10), every: .milliseconds(300)) {
                    let streamed = lab.backend("big").streamed
                    defer { stalled = streamed }
                    return streamed > 0 && streamed == stalled
                }, "the server kept sending to a client that does not read")
            // Kernel buffers on both sockets plus Ballast's 1 MiB water mark: far below the stream.
            #expect(stalled < 48 * 1024 * 1024, "\(stalled) bytes went out before the stall")
            var received = 0
            var corrupt = false
            while received < total {
                let chunk = try socket.read(limit: 1 << 20)
                if chunk.isEmpty { break }
                if !TestBackend.matchesPattern(chunk, at: received) { corrupt = true }
                received += chunk.count
            }
            #expect(received == total)
            #expect(!corrupt)
            #expect(try socket.read().isEmpty)
        }
    }

    @Test func uploadsArriveWholeAndEchoBack() async throws {
        let lab = try await RelayLab(backends: ["a"])
        try await using(lab) { lab throws in
            let socket = try TestSocket(port: lab.relayPort, timeout: .seconds(10))
            #expect(try socket.readLine() == "a")
            let size = 32 * 1024 * 1024
            let payload = TestBackend.pattern(from: 0, count: size)
            let writer = socket.sender
            let sender = Task.detached {
                try writer.send(payload); writer.shutdownWrite()
            }
            var echoed = 0
            var corrupt = false
            while echoed < size {
                let chunk = try socket.read(limit: min(1 << 20, size - echoed))
                if chunk.isEmpty { break }
                if !TestBackend.matchesPattern(chunk, at: echoed) { corrupt = true }
                echoed += chunk.count
            }
            try await sender.value
            #expect(echoed == size)
            #expect(!corrupt)
            #expect(try socket.readLine() == "EOF")
        }
    }

    @Test func connectionLimitHoldsNewClientsInTheBacklog() async throws {
        let lab = try await RelayLab(backends: ["a"]) { $0.relays[0].maxConnections = 3 }
        try await using(lab) { lab throws in
            var held: [TestSocket] = []
            for _ in 0..<3 {
                let socket = try TestSocket(port: lab.relayPort)
                #expect(try socket.readLine() == "a")
                held.append(socket)
            }
            // The fourth is accepted by the kernel but not by Ballast: nothing answers.
            let waiting = try TestSocket(port: lab.relayPort, timeout: .milliseconds(400))
            #expect(throws: TestSocket.Failure.self) { _ = try waiting.readLine() }
            #expect(lab.backend("a").accepted == 3)
            held[0].close()
            let late = try TestSocket(port: lab.relayPort, timeout: .seconds(3))
            _ = late
            #expect(await eventually { lab.backend("a").accepted >= 4 })
        }
    }

    @Test func idleConnectionsAreClosed() async throws {
        let lab = try await RelayLab(backends: ["a"]) { $0.relays[0].timeouts.idle = .milliseconds(400) }
        try await using(lab) { lab throws in
            let busy = try TestSocket(port: lab.relayPort)
            let idle = try TestSocket(port: lab.relayPort, timeout: .seconds(3))
            #expect(try busy.readLine() == "a")
            #expect(try idle.readLine() == "a")
            let started = ContinuousClock.now
            // Traffic every 150 ms keeps one connection alive past the idle timeout.
            for i in 0..<6 {
                try busy.send("ping \(i)\n")
                #expect(try busy.readLine() == "ping \(i)")
                try await Task.sleep(for: .milliseconds(150))
            }
            #expect(idle.isClosedByPeer())
            #expect(ContinuousClock.now - started >= .milliseconds(400))
            try busy.send("still\n")
            #expect(try busy.readLine() == "still")
            #expect(await eventually { lab.backend("a").open == 1 })
        }
    }

    @Test(arguments: [Relay.ProxyProtocol.v1, .v2])
    func proxyHeaderTellsTheServerWhoTheClientIs(version: Relay.ProxyProtocol) async throws {
        let lab = try await RelayLab(backends: ["a"], behaviour: .captureProxyHeader) {
            $0.relays[0].proxyProtocol = version
        }
        try await using(lab) { lab throws in
            let socket = try TestSocket(port: lab.relayPort, source: "127.0.0.33")
            try socket.send("hello\n")
            #expect(try socket.readLine() == "a")
            #expect(try socket.readLine() == "hello")
            let header = try #require(lab.backend("a").proxyHeaders.first)
            #expect(header.source == Endpoint(address: IPAddress(v4: 127, 0, 0, 33), port: socket.localPort))
            #expect(header.destination == Endpoint(address: IPAddress(v4: 127, 0, 0, 1), port: lab.relayPort))
        }
    }

    @Test func acceptsAPROXYHeaderFromAFrontBalancer() async throws {
        let lab = try await RelayLab(backends: ["a"], behaviour: .captureProxyHeader) {
            $0.relays[0].acceptProxyProtocol = true
            $0.relays[0].proxyProtocol = .v1
        }
        try await using(lab) { lab throws in
            let socket = try TestSocket(port: lab.relayPort)
            let incoming = ProxyHeader(
                source: Endpoint("203.0.113.5:40000")!, destination: Endpoint("198.51.100.1:443")!)
            // Header and data in one write: the data must not be lost.
            try socket.send(incoming.encoded(as: .v2) + Array("payload\n".utf8))
            #expect(try socket.readLine() == "a")
            #expect(try socket.readLine() == "payload")
            #expect(lab.backend("a").proxyHeaders.first == incoming)
        }
    }

    @Test func aBrokenPROXYHeaderClosesTheConnection() async throws {
        let lab = try await RelayLab(backends: ["a"]) { $0.relays[0].acceptProxyProtocol = true }
        try await using(lab) { lab throws in
            let socket = try TestSocket(port: lab.relayPort)
            try socket.send("GET / HTTP/1.1\r\n\r\n")
            #expect(socket.isClosedByPeer())
            #expect(lab.backend("a").accepted == 0)
        }
    }

    @Test func aSilentClientWithoutPROXYHeaderTimesOut() async throws {
        let lab = try await RelayLab(backends: ["a"]) {
            $0.relays[0].acceptProxyProtocol = true
            $0.relays[0].timeouts.connect = .milliseconds(300)
        }
        try await using(lab) { lab throws in
            let socket = try TestSocket(port: lab.relayPort, timeout: .seconds(3))
            let started = ContinuousClock.now
            #expect(socket.isClosedByPeer())
            #expect(ContinuousClock.now - started < .seconds(2))
        }
    }

    @Test func manyConcurrentConnectionsAllComplete() async throws {
        let lab = try await RelayLab()
        try await using(lab) { lab throws in
            let port = lab.relayPort
            let results = try await withThrowingTaskGroup(of: Bool.self) { group in
                for i in 0..<64 {
                    group.addTask {
                        try await Task.detached {
                            let socket = try TestSocket(port: port)
                            _ = try socket.readLine()
                            let message = "message \(i)\n"
                            try socket.send(message)
                            return try socket.readLine() == "message \(i)"
                        }.value
                    }
                }
                var all: [Bool] = []
                for try await result in group { all.append(result) }
                return all
            }
            #expect(results.count == 64)
            #expect(results.allSatisfy { $0 })
            #expect(await eventually { await lab.node.activeConnections == 0 })
        }
    }
}
