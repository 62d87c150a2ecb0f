public import BallastCore
import Foundation
public import Hummingbird
public import Logging
import NIOCore
import NIOPosix

/// A witness at a third location: asked whether a site is lost, it tries the site's addresses
/// itself (TCP connect, one second each) and answers `{"site": ..., "lost": true|false}`. With it,
/// a node may fail a site over by itself; the witness never decides alone.
public enum WitnessServer {
    /// The answer to `GET /sites/:site`.
    public struct Verdict: Codable, Sendable {
        public var site: String
        /// True when none of the site's addresses accepted a connection.
        public var lost: Bool
        /// Each address and what the witness saw.
        public var probes: [String]
    }

    /// The witness application for `sites` (name to the addresses to try), on `listen`.
    public static func application(
        listen: Endpoint, sites: [String: [Endpoint]], logger: Logger,
        onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let router = Router()
        router.get("healthz") { _, _ in "ok\n" }
        router.get("sites/:site") { _, context -> Response in
            let site = try context.parameters.require("site")
            guard let endpoints = sites[site] else {
                throw HTTPError(
                    .notFound,
                    message:
                        "the witness knows no site \(site); it knows \(sites.keys.sorted().joined(separator: ", "))")
            }
            var probes: [String] = []
            var reachable = false
            for endpoint in endpoints {
                let started = ContinuousClock.now
                do {
                    let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                        .connectTimeout(.seconds(1))
                        .connect(to: try SocketAddress(ipAddress: endpoint.address.description, port: endpoint.port))
                        .get()
                    try? await channel.close()
                    reachable = true
                    probes.append("\(endpoint) accepted in \(ContinuousClock.now - started)")
                } catch {
                    probes.append("\(endpoint) \(error)")
                }
            }
            let verdict = Verdict(site: site, lost: !reachable, probes: probes)
            logger.notice("witness asked", metadata: ["site": "\(site)", "lost": "\(verdict.lost)"])
            return try AdminServer.jsonResponse(verdict)
        }
        return Application(
            router: router,
            configuration: ApplicationConfiguration(
                address: .hostname(listen.address.description, port: listen.port), serverName: "ballast-witness"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? listen.port) },
            logger: logger)
    }
}
