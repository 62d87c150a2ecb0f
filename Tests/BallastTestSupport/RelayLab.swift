public import BallastCore
public import BallastNode
import Logging
import NIOCore
public import NIOPosix

/// A node in this process, in front of real backends on 127.0.0.1, for edge tests.
public final class RelayLab: Sendable {
    public let node: Node
    public let backends: [TestBackend]
    public let relayPort: Int
    public let group: MultiThreadedEventLoopGroup
    /// Moves the node's clock forward, to reach an expiry without waiting for it.
    public let time = TimeShift()

    /// Starts `backends` servers and a node whose relay `front` forwards to them.
    /// `configure` edits the topology before the node starts.
    public init(
        backends names: [String] = ["a", "b", "c"], behaviour: TestBackend.Behaviour = .identify,
        backup: Set<String> = [], check: Check? = nil, configure: (inout Topology) -> Void = { _ in }
    ) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        var backends: [TestBackend] = []
        for name in names { backends.append(try await TestBackend.start(name: name, behaviour: behaviour)) }
        let relayPort = Ports.free()
        let servers = zip(names, backends).map { name, backend in
            Server(
                name: name, address: IPAddress(v4: 127, 0, 0, 1), port: backend.port, isBackup: backup.contains(name))
        }
        var topology = Topology(
            pools: [Pool(name: "pool", check: check, servers: servers)],
            relays: [
                Relay(
                    name: "front", listen: Endpoint(address: IPAddress(v4: 127, 0, 0, 1), port: relayPort), pool: "pool"
                )
            ])
        configure(&topology)
        var logger = Logger(label: "lab")
        logger.logLevel = .warning
        self.node = try Node(
            topology: topology, group: group, logger: logger, relayThreads: 2, time: .shifted(by: time))
        self.backends = backends
        self.relayPort = relayPort
        self.group = group
        try await node.start()
    }

    /// The backend with this name.
    public func backend(_ name: String) -> TestBackend { backends.first { $0.name == name }! }

    /// The key of a server of the lab's pool.
    public func key(_ name: String) -> ServerKey { ServerKey(pool: "pool", server: name) }

    /// Connects through the relay and returns the name of the server that answered.
    public func whoAnswers(source: String? = nil) throws -> String? {
        let socket = try TestSocket(port: relayPort, source: source, timeout: .seconds(3))
        defer { socket.close() }
        return try socket.readLine()
    }

    /// Stops the node and every backend.
    public func shutdown() async {
        await node.shutdown(grace: .milliseconds(200))
        for backend in backends { await backend.stop() }
        try? await group.shutdownGracefully()
    }
}
