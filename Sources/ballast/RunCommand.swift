import ArgumentParser
import BallastAdmin
import BallastConfig
import BallastCore
import BallastEngine
import BallastNode
import BallastRelay
import Logging
import Metrics
import NIOCore
import NIOPosix
import Prometheus
import ServiceLifecycle
import UnixSignals

/// `ballast run -c FILE`: runs what the config names until SIGTERM or SIGINT.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the relays, health checks and admin API a config names.",
        discussion: "SIGHUP reloads the config; SIGTERM or SIGINT drains open connections, then exits.")

    @OptionGroup var options: ConfigOption

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: LogLevel = .info

    @Option(help: "Relay threads; the number of cores by default.")
    var threads: Int?

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel.rawValue) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "ballast")
        let topology: Topology
        do {
            topology = try ConfigLoader.load(path: options.config)
        } catch {
            for problem in error.errors { printError("error: \(problem)") }
            printError("\(options.config): not started; fix the errors above (ballast check -c \(options.config))")
            throw ExitCode(2)
        }
        try await Self.serve(topology: topology, configPath: options.config, threads: threads, logger: logger)
    }

    /// Runs a node for `topology` (and its admin listener) until SIGTERM or SIGINT; `onStarted`
    /// runs once the admin listener is up.
    static func serve(
        topology: Topology, configPath: String, threads: Int?, logger: Logger,
        onStarted: @escaping @Sendable () async -> Void = {}
    ) async throws {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(HelpfulMetricsFactory(registry: registry))

        let limits = FileLimit.raise()
        // Two descriptors per relayed connection, one per SIP or DNS TCP connection, at their limits.
        let sipStreams = topology.sip.map { sip in
            sip.listeners.filter { $0.listen.transport != .udp }.count * sip.maxConnections
        }
        let needed =
            topology.relays.reduce(0) { $0 + 2 * $1.maxConnections } + (sipStreams ?? 0)
            + topology.dns.listeners.count * topology.dns.maxTCPConnections + 64
        if limits.soft < UInt64(needed) {
            logger.warning(
                "the open-file limit is below what the connection limits need; raise it (ulimit -n, LimitNOFILE=) or lower the relays' max-connections, sip.max-connections or dns.max-tcp-connections",
                metadata: ["limit": "\(limits.soft)", "needed": "\(needed)"])
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads ?? System.coreCount)
        let node: Node
        do {
            node = try Node(topology: topology, group: group, logger: logger, relayThreads: threads)
        } catch {
            printError("error: cannot start the relay threads: \(error)")
            throw ExitCode(1)
        }
        var services: [any Service] = []
        let plans = BackgroundPlans()
        if let admin = topology.admin {
            let traffic = TrafficRecorder(state: node.state, registry: registry)
            services.append(traffic)
            services.append(
                AdminServer.application(
                    admin: admin, state: node.state, registry: registry, logger: logger,
                    directory: { await node.directoryStore }, traffic: traffic, plans: plans
                ) { port in
                    logger.info("admin API listening", metadata: ["listen": "\(admin.listen.address):\(port)"])
                    await onStarted()
                })
        }
        services.append(NodeService(node: node, configPath: configPath, logger: logger))
        // Last, so that a shutdown (services stop in reverse order) cancels the plans still
        // running and waits for them while the node and its store are still up.
        services.append(plans)
        let serviceGroup = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) },
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        do {
            try await serviceGroup.run()
        } catch {
            // The admin API is the one service that binds a socket of its own inside the group;
            // a relay's or a listener's bind failure arrives as a NodeError that names it already.
            if let admin = topology.admin, let io = error as? IOError,
                io.errnoCode == EADDRINUSE || io.errnoCode == EACCES
            {
                printError(
                    "error: the admin API cannot listen on \(admin.listen.address):\(admin.listen.port): \(io); free the port, or change admin.listen"
                )
            }
            logger.critical("ballast stopped", metadata: ["reason": "\(error)"])
            try? await group.shutdownGracefully()
            throw ExitCode(1)
        }
        try? await group.shutdownGracefully()
    }
}

/// The `--log-level` values.
enum LogLevel: String, ExpressibleByArgument, CaseIterable {
    case trace, debug, info, notice, warning, error, critical
}
