import ArgumentParser
import BallastAdmin
import BallastCore
import Logging
import ServiceLifecycle
import UnixSignals

/// `ballast witness`: a witness at a third location that nodes ask before failing a site over
/// by themselves; it tries the site's addresses itself.
struct WitnessCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "witness",
        abstract:
            "Run a witness for automatic site failover: GET /sites/SITE says whether the site's addresses answer here.")

    @Option(help: "ADDRESS:PORT to listen on.") var listen = "127.0.0.1:9950"
    @Option(help: "SITE=ADDRESS:PORT, an address of the site to try; repeat for each.") var probe: [String] = []

    func run() async throws {
        guard let endpoint = Endpoint(listen) else { throw ValidationError("--listen \(listen) is not ADDRESS:PORT") }
        var sites: [String: [Endpoint]] = [:]
        for item in probe {
            let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, let address = Endpoint(parts[1]) else {
                throw ValidationError("--probe \(item) is not SITE=ADDRESS:PORT such as hq=10.0.1.10:5061")
            }
            sites[parts[0], default: []].append(address)
        }
        guard !sites.isEmpty else { throw ValidationError("name at least one --probe SITE=ADDRESS:PORT") }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .notice
            return handler
        }
        let logger = Logger(label: "ballast-witness")
        let names = sites.keys.sorted()
        let app = WitnessServer.application(listen: endpoint, sites: sites, logger: logger) { port in
            logger.notice(
                "witness listening", metadata: ["listen": "\(endpoint.address):\(port)", "sites": "\(names)"])
        }
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [.init(service: app)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
