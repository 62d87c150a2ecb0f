import BallastConfig
import BallastCore
public import Logging
public import ServiceLifecycle
import UnixSignals

/// Runs a node as a service: starts it, reloads the config file on SIGHUP, and drains on
/// graceful shutdown (SIGTERM or SIGINT through the service group).
public struct NodeService: Service {
    private let node: Node
    private let configPath: String
    private let logger: Logger

    /// A service for `node`, reloading from `configPath`.
    public init(node: Node, configPath: String, logger: Logger) {
        self.node = node
        self.configPath = configPath
        self.logger = logger
    }

    public func run() async throws {
        try await node.start()
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        for await _ in hangups.cancelOnGracefulShutdown() {
            await reload()
        }
        let grace = node.state.current.topology.node.shutdownGrace
        await node.shutdown(grace: grace)
    }

    /// Reads the config file again and applies it; a bad file is refused and logged,
    /// and the running config stays.
    func reload() async {
        logger.notice("SIGHUP: reloading config", metadata: ["file": "\(configPath)"])
        let topology: Topology
        do {
            topology = try ConfigLoader.load(path: configPath)
        } catch {
            logger.error(
                "config reload refused; the running config stays",
                metadata: ["file": "\(configPath)", "errors": "\(error.errors.count)"])
            for problem in error.errors { logger.error("\(problem)") }
            return
        }
        do {
            try await node.apply(topology)
        } catch {
            logger.error("config reload refused; the running config stays", metadata: ["reason": "\(error)"])
        }
    }
}
