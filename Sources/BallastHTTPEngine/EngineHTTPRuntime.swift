import BallastCodecs
public import BallastCore
public import BallastEngine
public import BallastTLS
import CoreMetrics
public import Logging
import Metrics

/// What every request through one `http` relay on the engine shares: the state to ask,
/// persistence compiled to bytes, the idle connections to servers of each loop, logs and
/// metrics. Built anew at every reload; open connections keep the runtime they started with.
public final class EngineHTTPRuntime: Sendable {
    /// The relay's name in the topology.
    public let relayName: String
    /// Where state snapshots come from.
    public let state: PublishedState
    /// Source-address affinity, when the relay has it.
    public let stickTable: SharedStickTable?
    /// Called when live traffic could not reach a server.
    public let reportFailure: @Sendable (ProbeKey, String) -> Void
    let cookie: EngineCookieTable?
    let logger: Logger
    let metrics: EngineHTTPMetrics
    /// Idle keep-alive connections to servers, one pool per engine loop.
    let pools: [ServerLinkPool]
    /// The heads being scanned, one pair per engine loop.
    let heads: [HTTPLoopHeads]
    let poolCapacity: Int
    /// Terminates clients' TLS, on https relays.
    let termination: TLSServerContext?
    /// Speaks TLS to the servers, when the relay has `server-tls`.
    let reencryption: TLSClientContext?
    /// Failed logins by user and source, shared with the mail relays (routing by user).
    let throttle: SharedLoginThrottle
    /// The clock affinity expires by.
    let time: TimeSource
    private let inputs = BalancingInputSource()

    /// A runtime for `relay` on `engine`; `servers` are its pool's servers in the topology being
    /// applied, which name the persistence cookie's values. Certificate files are read here,
    /// so a reload serves renewed ones.
    public init(
        relay: Relay, servers: [Server], state: PublishedState, stickTable: SharedStickTable?, engine: Engine,
        logger: Logger, throttle: SharedLoginThrottle = SharedLoginThrottle(), time: TimeSource = .system,
        reportFailure: @escaping @Sendable (ProbeKey, String) -> Void
    ) throws(TLSError) {
        guard let http = relay.http else {
            preconditionFailure("an HTTP runtime for relay \(relay.name), which does not speak HTTP")
        }
        self.throttle = throttle
        self.time = time
        if case .https(let settings) = relay.kind {
            termination = try TLSServerContext(certificates: settings.certificates, alpn: Self.alpn)
        } else {
            termination = nil
        }
        reencryption = try http.serverTLS.map { settings throws(TLSError) in try TLSClientContext(settings) }
        relayName = relay.name
        self.state = state
        self.stickTable = stickTable
        self.reportFailure = reportFailure
        self.logger = logger
        metrics = EngineHTTPMetrics(relay: relay.name)
        pools = (0..<engine.loopCount).map { _ in ServerLinkPool() }
        heads = (0..<engine.loopCount).map { _ in HTTPLoopHeads() }
        poolCapacity = http.serverPoolSize
        if case .cookie(let settings) = relay.persistence {
            cookie = EngineCookieTable(
                settings: settings, signer: PersistenceCookie(secret: settings.key, relay: relay.name),
                servers: servers.map { ServerKey(pool: relay.pool, server: $0.name) })
        } else {
            cookie = nil
        }
    }

    /// The protocols offered to clients by ALPN, preferred first.
    static let alpn = ["h2", "http/1.1"]

    /// The input of one balancing decision.
    func balancingInput(client: IPAddress) -> BalancingInput { inputs.next(client: client) }

    /// The newest state with this relay's settings and rotation, looked up again only when a
    /// new state was published since the loop last asked; nil when the relay left the topology
    /// or no longer speaks HTTP (a reload that changes its kind binds another listener).
    func snapshot(_ context: LoopContext) -> RelaySnapshot? {
        let loop = heads[context.loop.index]
        let state = self.state.current
        if let cached = loop.snapshot, cached.state.version == state.version { return cached }
        let fresh = state.relay(named: relayName).flatMap { RelaySnapshot(state: state, relay: $0) }
        loop.snapshot = fresh
        return fresh
    }

    /// The server for one request: the user's mailbox server on relays that route by user, else
    /// the balancer's choice honouring `sticky` (the cookie's server) or the source's affinity,
    /// never one in `tried`. Nil when none is up.
    func chooseServer(
        _ snapshot: RelaySnapshot, client: IPAddress, userServer: (key: ServerKey, server: Server)?, sticky: ServerKey?,
        tried: [ServerKey]
    ) -> (key: ServerKey, server: Server)? {
        let chosen: (key: ServerKey, server: Server)?
        if let userServer {
            chosen = tried.contains(userServer.key) ? nil : userServer
        } else if let view = snapshot.rotation {
            var sticky = sticky
            if sticky == nil, let stickTable { sticky = stickTable.lookup(client, now: time.now) }
            chosen = State.choose(
                in: view, relay: snapshot.relay, input: balancingInput(client: client), sticky: sticky, excluding: tried
            ).map { ($0.key, $0.server) }
        } else {
            chosen = nil
        }
        if let chosen { stickTable?.record(client, server: chosen.key, now: time.now) }
        return chosen
    }

    /// Counts and logs a server that failed before answering, and tells its health checks when
    /// it could not be reached (`connectFailed`), whether the request is an HTTP/1.1 client's or
    /// an HTTP/2 stream's.
    func serverFailed(
        _ member: (key: ServerKey, server: Server)?, reason: String, connectFailed: Bool, _ snapshot: RelaySnapshot
    ) {
        let state = snapshot.state
        let relay = snapshot.relay
        metrics.serverFailures.increment()
        if let member, connectFailed,
            let probe = state.topology.pool(named: relay.pool).flatMap({ pool in
                state.topology.probe(for: relay, pool: pool, server: member.server)
            })
        {
            reportFailure(probe, reason)
        }
        logger.warning(
            "server failed before answering",
            metadata: ["relay": "\(relayName)", "server": "\(member.map { "\($0.key)" } ?? "-")", "error": "\(reason)"])
    }

    /// The `Set-Cookie` value that pins a client to `server`, unless its cookie named it already.
    func setCookie(for server: ServerKey, sticky: ServerKey?) -> [UInt8]? {
        guard let cookie, sticky != server else { return nil }
        return cookie.setCookie(for: server)
    }

    /// A connection to `endpoint` lent to `owner`: the warmest idle one of the loop's pool
    /// unless `fresh`, else a new one, still connecting when it is returned.
    func link(
        to endpoint: Endpoint, fresh: Bool, owner: any ServerLinkOwner, context: LoopContext
    )
        -> Result<ServerLink, SystemError>
    {
        let pool = pools[context.loop.index]
        if !fresh, let pooled = pool.take(endpoint) {
            pooled.lend(to: owner)
            return .success(pooled)
        }
        return ServerLink.open(to: endpoint, owner: owner, tls: reencryption, pool: pool, context: context)
    }

    /// Closes the idle connections to servers on every loop; used when the runtime is replaced.
    public func closeIdleServerConnections(on engine: Engine) async {
        let pools = self.pools
        await engine.onEveryLoop { context in pools[context.loop.index].closeAll(context: context) }
    }
}

/// What one engine loop's HTTP connections share: the request and response heads they scan
/// into, one at a time, stream buffers, and the relay as the loop last saw it.
final class HTTPLoopHeads: @unchecked Sendable {
    // @unchecked: each belongs to one engine loop (EngineHTTPRuntime.heads is indexed by the
    // loop's index), only that loop's thread touches it, and a connection uses it within one
    // event, never across a suspension.
    var request = HTTP1Head()
    var response = HTTP1Head()
    /// Response buffers of HTTP/2 streams: smaller than the loop's, since a connection may hold
    /// a hundred streams (HAProxy's are 16 KiB); a response head must fit one.
    var streamBuffers = BufferPool(size: 32 * 1024, keep: 256)
    /// The relay as the newest state the loop saw has it.
    var snapshot: RelaySnapshot?

    deinit { streamBuffers.drain() }
}

/// One published state with what a request through the relay reads of it: the relay's
/// settings and the servers it may use, found once per publication rather than by name at
/// every request.
final class RelaySnapshot: Sendable {
    let state: State
    let relay: Relay
    /// The relay's HTTP settings.
    let http: HTTPSettings
    /// The relay's rotation; nil when its pool is not in the topology.
    let rotation: PoolView?

    /// Nil for a relay that does not speak HTTP.
    init?(state: State, relay: Relay) {
        guard let http = relay.http else { return nil }
        self.state = state
        self.relay = relay
        self.http = http
        rotation = state.rotation(for: relay)
    }
}

/// Cookie persistence compiled to bytes: the cookie's name, each server's value and the
/// `Set-Cookie` line that pins a client to it, so that a request builds no string.
struct EngineCookieTable: Sendable {
    let name: [UInt8]
    let servers: [(key: ServerKey, value: [UInt8], setCookie: [UInt8])]

    init(settings: CookiePersistence, signer: PersistenceCookie, servers: [ServerKey]) {
        name = Array(settings.name.utf8)
        let table = signer.table(for: servers)
        self.servers = table.map { value, key in
            (key, Array(value.utf8), Array(CookieHeader.setCookie(value: value, settings: settings).utf8))
        }.sorted { $0.key.server < $1.key.server }
    }

    /// The server the request's `Cookie` fields name, if the value is one of ours.
    func server(in bytes: UnsafeRawBufferPointer, head: HTTP1Head) -> ServerKey? {
        for field in head.fields where field.known == .cookie {
            var index = field.value.lowerBound
            let end = field.value.upperBound
            while index < end {
                while index < end, bytes[index] == 0x20 || bytes[index] == 0x3b { index += 1 }
                let start = index
                while index < end, bytes[index] != 0x3b { index += 1 }
                guard let equals = (start..<index).first(where: { bytes[$0] == 0x3d }),
                    equals - start == name.count, name.indices.allSatisfy({ bytes[start + $0] == name[$0] })
                else { continue }
                var valueStart = equals + 1
                var valueEnd = index
                while valueEnd > valueStart, bytes[valueEnd - 1] == 0x20 { valueEnd -= 1 }
                if valueEnd - valueStart >= 2, bytes[valueStart] == 0x22, bytes[valueEnd - 1] == 0x22 {
                    valueStart += 1
                    valueEnd -= 1
                }
                for server in servers where server.value.count == valueEnd - valueStart {
                    if server.value.indices.allSatisfy({ bytes[valueStart + $0] == server.value[$0] }) {
                        return server.key
                    }
                }
            }
        }
        return nil
    }

    func setCookie(for key: ServerKey) -> [UInt8]? {
        servers.first { $0.key == key }?.setCookie
    }
}

/// The relay's metrics, under the names the SwiftNIO relay used, so dashboards carry on.
struct EngineHTTPMetrics: Sendable {
    let connections: Counter
    let active: Meter
    let requests: Counter
    let badRequests: Counter
    let noServer: Counter
    let serverFailures: Counter
    let retries: Counter
    let limitReached: Counter
    let handshakeFailures: Counter
    let throttled: Counter

    init(relay: String) {
        let dimensions = [("relay", relay)]
        connections = Counter(label: "ballast_http_connections_total", dimensions: dimensions)
        active = Meter(label: "ballast_relay_connections_active", dimensions: dimensions)
        requests = Counter(label: "ballast_http_requests_total", dimensions: dimensions)
        badRequests = Counter(label: "ballast_http_bad_requests_total", dimensions: dimensions)
        noServer = Counter(label: "ballast_http_no_server_total", dimensions: dimensions)
        serverFailures = Counter(label: "ballast_http_server_failures_total", dimensions: dimensions)
        retries = Counter(label: "ballast_http_retries_total", dimensions: dimensions)
        limitReached = Counter(label: "ballast_relay_limit_reached_total", dimensions: dimensions)
        handshakeFailures = Counter(label: "ballast_tls_handshake_failures_total", dimensions: dimensions)
        throttled = Counter(label: "ballast_login_throttled_total", dimensions: [("protocol", "http")])
    }
}

/// An HTTP relay's timeouts in milliseconds, as the engine's clock counts them; read at each
/// request on HTTP/1.1 connections, once per HTTP/2 connection.
struct HTTPTimeouts {
    var request: UInt64 = 10_000
    var keepAlive: UInt64 = 75_000
    var server: UInt64 = 60_000
    var serverIdle: UInt64 = 30_000
    var idle: UInt64 = 300_000
    var connect: UInt64 = 5_000
    var handshake: UInt64 = 5_000

    init() {}

    init(_ relay: Relay, http: HTTPSettings) {
        request = http.timeouts.request.milliseconds
        keepAlive = http.timeouts.keepAlive.milliseconds
        server = http.timeouts.server.milliseconds
        serverIdle = http.timeouts.serverIdle.milliseconds
        idle = relay.timeouts.idle.milliseconds
        connect = relay.timeouts.connect.milliseconds
        handshake = http.timeouts.handshake.milliseconds
    }
}
