public import BallastCore
public import BallastStore
import Foundation
public import Hummingbird
public import Logging
public import Prometheus

/// The admin listener: state, drain and undrain, history, users, plans, the dashboard and
/// Prometheus metrics.
///
/// `/api/...` needs `Authorization: Bearer TOKEN` when the config sets a token;
/// `/metrics`, `/healthz` and the dashboard page itself are open (the page asks for the token).
public enum AdminServer {
    /// The admin application, ready to run as a service. `directory` gives the node's store once open.
    public static func application(
        admin: Topology.Admin, store: StateStore, registry: PrometheusCollectorRegistry, logger: Logger,
        directory: @escaping @Sendable () async -> DirectoryStore? = { nil },
        onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let router = Router()
        router.add(middleware: BearerTokenMiddleware(token: admin.token))
        router.get("healthz") { _, _ in "ok\n" }
        router.get("/") { _, _ -> Response in
            Response(
                status: .ok, headers: [.contentType: "text/html; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: Dashboard.html)))
        }
        router.get("metrics") { _, _ -> Response in
            let body = registry.emitToBuffer()
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
        let api = router.group("api")
        api.get("status") { _, _ -> Response in
            try jsonResponse(StatusReport(store.current))
        }
        api.post("servers/:pool/:server/drain") { _, context -> Response in
            try setDrained(true, context: context, store: store, logger: logger)
        }
        api.post("servers/:pool/:server/undrain") { _, context -> Response in
            try setDrained(false, context: context, store: store, logger: logger)
        }
        PlanRoutes.add(to: api, store: store, directory: directory, logger: logger)
        DirectoryRoutes.add(to: api, store: store, directory: directory, logger: logger)
        let host = admin.listen.address.description
        return Application(
            router: router,
            configuration: ApplicationConfiguration(
                address: .hostname(host, port: admin.listen.port), serverName: "ballast"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? admin.listen.port) },
            logger: logger)
    }

    private static func setDrained(
        _ drained: Bool, context: BasicRequestContext, store: StateStore, logger: Logger
    ) throws -> Response {
        let pool = try context.parameters.require("pool")
        let server = try context.parameters.require("server")
        let key = ServerKey(pool: pool, server: server)
        do {
            let state = try store.setDrained(drained, for: key)
            logger.notice(drained ? "server drained" : "server undrained", metadata: ["server": "\(key)"])
            return try jsonResponse(StatusReport(state))
        } catch {
            throw HTTPError(.notFound, message: "\(error)")
        }
    }

    static func jsonResponse(_ value: some Encodable) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(value)
        return Response(
            status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// Refuses `/api` requests that lack the configured bearer token.
struct BearerTokenMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    let token: String?

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        guard let token, request.uri.path.hasPrefix("/api") else { return try await next(request, context) }
        guard let header = request.headers[.authorization], header == "Bearer \(token)" else {
            throw HTTPError(
                .unauthorized, headers: [.wwwAuthenticate: "Bearer"],
                message: "a bearer token is required: pass --token or set BALLAST_TOKEN")
        }
        return try await next(request, context)
    }
}
