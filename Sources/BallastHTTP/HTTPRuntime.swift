import BallastCodecs
public import BallastCore
import CoreMetrics
public import Logging
import Metrics
public import NIOCore

/// What every request through one HTTP relay shares: the state to ask, persistence, TLS
/// contexts, the keep-alive connections to servers, logs and metrics. Built anew at every
/// reload; open connections keep the runtime they started with.
public final class HTTPRuntime: Sendable {
    /// The relay's name in the topology.
    public let relayName: String
    /// Where state snapshots come from.
    public let store: StateStore
    /// Source-address affinity, when the relay has it.
    public let stickTable: SharedStickTable?
    /// Called when live traffic could not reach a server.
    public let reportFailure: @Sendable (ProbeKey, String) -> Void
    let cookie: CookieTable?
    let tls: TLSContexts
    let logger: Logger
    let metrics: HTTPMetrics
    let pools: ServerConnectionPools
    /// Limits password guessing (route-by-user with Basic credentials), shared with the node's other listeners.
    let throttle: SharedLoginThrottle
    private let inputs = BalancingInputSource()

    /// A runtime for `relay`; loads the relay's certificate files. `servers` are its pool's
    /// servers in the topology being applied (the cookie names each), which `store` may not
    /// publish yet.
    public init(
        relay: Relay, servers: [Server], store: StateStore, stickTable: SharedStickTable?, group: any EventLoopGroup, logger: Logger,
        throttle: SharedLoginThrottle = SharedLoginThrottle(), reportFailure: @escaping @Sendable (ProbeKey, String) -> Void
    ) throws(HTTPRelayError) {
        self.relayName = relay.name
        self.throttle = throttle
        self.store = store
        self.stickTable = stickTable
        self.reportFailure = reportFailure
        self.logger = logger
        self.tls = try TLSContexts(relay: relay)
        self.metrics = HTTPMetrics(relay: relay.name)
        self.pools = ServerConnectionPools(group: group, capacity: relay.http.serverPoolSize)
        if case .cookie(let settings) = relay.persistence {
            self.cookie = CookieTable(
                settings: settings, signer: PersistenceCookie(secret: settings.key, relay: relay.name),
                servers: servers.map { ServerKey(pool: relay.pool, server: $0.name) })
        } else {
            self.cookie = nil
        }
    }

    /// The input of one balancing decision.
    func balancingInput(client: IPAddress) -> BalancingInput { inputs.next(client: client) }

    /// Closes the idle keep-alive connections to servers; used when the runtime is replaced.
    public func closeIdleServerConnections() { pools.closeAll() }
}

/// Cookie persistence of one relay: the settings and the value of each server's cookie.
struct CookieTable: Sendable {
    let settings: CookiePersistence
    let byValue: [String: ServerKey]
    let byServer: [ServerKey: String]

    init(settings: CookiePersistence, signer: PersistenceCookie, servers: [ServerKey]) {
        self.settings = settings
        byValue = signer.table(for: servers)
        byServer = Dictionary(byValue.map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
    }

    /// The server a request's cookies name, if its value is one of ours.
    func server(in headers: [String]) -> ServerKey? {
        for header in headers {
            if let value = CookieHeader.value(named: settings.name, in: header), let server = byValue[value] {
                return server
            }
        }
        return nil
    }
}

/// The relay's metrics, created once so that requests only count.
struct HTTPMetrics: Sendable {
    let connections: Counter
    /// Client connections open now (the TCP relay's gauge has the same name).
    let active: Meter
    /// Logins refused for too many failures.
    let throttled: Counter
    let requests: Counter
    let badRequests: Counter
    let noServer: Counter
    let serverFailures: Counter
    let retries: Counter

    init(relay: String) {
        let dimensions = [("relay", relay)]
        connections = Counter(label: "ballast_http_connections_total", dimensions: dimensions)
        active = Meter(label: "ballast_relay_connections_active", dimensions: dimensions)
        throttled = Counter(label: "ballast_login_throttled_total", dimensions: [("protocol", "http")])
        requests = Counter(label: "ballast_http_requests_total", dimensions: dimensions)
        badRequests = Counter(label: "ballast_http_bad_requests_total", dimensions: dimensions)
        noServer = Counter(label: "ballast_http_no_server_total", dimensions: dimensions)
        serverFailures = Counter(label: "ballast_http_server_failures_total", dimensions: dimensions)
        retries = Counter(label: "ballast_http_retries_total", dimensions: dimensions)
    }
}
