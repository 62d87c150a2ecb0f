public import BallastCore
import BallastReporting
public import BallastStore
import Foundation
public import Hummingbird
public import Logging
public import NIOCore
public import Prometheus

/// The admin listener: state, drain and undrain, history, users, plans, the dashboard and
/// Prometheus metrics.
///
/// Every route needs `Authorization: Bearer TOKEN` when the config sets a token, except the
/// explicit public list: `/metrics`, `/healthz` and the dashboard page itself (the page asks for
/// the token). The token is checked on the route that was matched, after the router has read the
/// path, so no spelling of a path (`//api`, `/./api`, a trailing slash) reaches a route unchecked.
public enum AdminServer {
    /// The routes anyone may call: liveness, metrics and the dashboard's shell (which holds no data).
    public static let publicRoutes: Set<String> = ["/", "/healthz", "/metrics"]

    /// The admin application, ready to run as a service. `directory` gives the node's store once
    /// open; plans applied in the background run in `plans`, a service of the same group.
    public static func application(
        admin: Topology.Admin, state: PublishedState, registry: PrometheusCollectorRegistry, logger: Logger,
        directory: @escaping @Sendable () async -> DirectoryStore? = { nil }, traffic: TrafficRecorder? = nil,
        plans: BackgroundPlans, onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let router = self.router(
            admin: admin, state: state, registry: registry, logger: logger, directory: directory, traffic: traffic,
            plans: plans)
        let host = admin.listen.address.description
        return Application(
            router: router,
            configuration: ApplicationConfiguration(
                address: .hostname(host, port: admin.listen.port), serverName: "ballast"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? admin.listen.port) },
            logger: logger)
    }

    /// Every route the admin API serves, as method and path template (`/api/plans/{id}`): what the
    /// access tests walk.
    public static func routes(admin: Topology.Admin) -> [(method: String, path: String)] {
        let router = router(
            admin: admin, state: PublishedState(topology: Topology(admin: admin)),
            registry: PrometheusCollectorRegistry(),
            logger: Logger(label: "ballast.admin.routes"), plans: BackgroundPlans())
        return router.routes.map { ($0.method.rawValue, $0.path.description) }
    }

    /// The admin API's routes, each behind the token check unless public.
    public static func router(
        admin: Topology.Admin, state: PublishedState, registry: PrometheusCollectorRegistry, logger: Logger,
        directory: @escaping @Sendable () async -> DirectoryStore? = { nil }, traffic: TrafficRecorder? = nil,
        plans: BackgroundPlans
    ) -> Router<AdminContext> {
        let router = Router(context: AdminContext.self)
        // Added before any route, so that it wraps every route's responder.
        router.add(middleware: AdminAccessMiddleware(token: admin.token, logger: logger))
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
            try jsonResponse(StatusReport(state.current))
        }
        // Per-second traffic of every relay, pool, DNS and SIP over the last minutes.
        let recorder = traffic ?? TrafficRecorder(state: state, registry: registry)
        api.get("traffic") { _, _ -> Response in
            try jsonResponse(TrafficView(recorder.current))
        }
        api.post("servers/:pool/:server/drain") { _, context -> Response in
            try setDrained(true, context: context, state: state, logger: logger)
        }
        api.post("servers/:pool/:server/undrain") { _, context -> Response in
            try setDrained(false, context: context, state: state, logger: logger)
        }
        PlanRoutes.add(to: api, state: state, directory: directory, plans: plans, logger: logger)
        DirectoryRoutes.add(to: api, state: state, directory: directory, logger: logger)
        return router
    }

    private static func setDrained(
        _ drained: Bool, context: AdminContext, state: PublishedState, logger: Logger
    ) throws -> Response {
        let pool = try context.parameters.require("pool")
        let server = try context.parameters.require("server")
        let key = ServerKey(pool: pool, server: server)
        do {
            let published = try state.setDrained(drained, for: key)
            logger.notice(drained ? "server drained" : "server undrained", metadata: ["server": "\(key)"])
            return try jsonResponse(StatusReport(published))
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

/// Guards every matched route: a path the router matched only by reading it leniently (doubled or
/// trailing slashes, dot segments, escapes) is answered 404, and any route outside
/// `AdminServer.publicRoutes` needs the bearer token. Refusals are logged, summarised under a flood.
struct AdminAccessMiddleware: RouterMiddleware {
    typealias Context = AdminContext
    let token: String?
    let logger: Logger

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        guard Self.isCanonical(request.uri.path) else {
            BadInputLog.shared.report(
                listener: "admin", reason: "path not in canonical form", client: context.client, logger: logger,
                detail: request.uri.path)
            throw HTTPError(.notFound)
        }
        let route = context.endpointPath ?? request.uri.path
        guard let token, !AdminServer.publicRoutes.contains(route) else { return try await next(request, context) }
        guard let header = request.headers[.authorization], Self.matches(header, token: token) else {
            BadInputLog.shared.report(
                listener: "admin", reason: "request without a valid token", client: context.client, logger: logger,
                detail: "\(request.method) \(request.uri.path)")
            throw HTTPError(
                .unauthorized, headers: [.wwwAuthenticate: "Bearer"],
                message: "a bearer token is required: pass --token or set BALLAST_TOKEN")
        }
        return try await next(request, context)
    }

    /// A path as the routes are written: one slash between segments, none at the end, no `.` or
    /// `..` segment, no escapes and no backslash.
    static func isCanonical(_ path: String) -> Bool {
        guard path.hasPrefix("/") else { return false }
        if path == "/" { return true }
        guard !path.hasSuffix("/"), !path.contains("%"), !path.contains("\\") else { return false }
        return !path.dropFirst().split(separator: "/", omittingEmptySubsequences: false).contains {
            $0.isEmpty || $0 == "." || $0 == ".."
        }
    }

    /// `Bearer TOKEN`, compared in time that does not depend on where it differs.
    static func matches(_ header: String, token: String) -> Bool {
        let expected = Array("Bearer \(token)".utf8)
        let given = Array(header.utf8)
        guard given.count == expected.count else { return false }
        return zip(given, expected).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }
}

/// The admin API's request context: Hummingbird's core context and the client's address, for the log.
public struct AdminContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// The client's address as the log shows it.
    var client: String { remoteAddress?.ipAddress ?? "-" }
}
