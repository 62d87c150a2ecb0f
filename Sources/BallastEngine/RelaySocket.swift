import Atomics
public import BallastCore
import CBallastLinux
public import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// A relay's listening socket on the engine, and what every kind of relay listener (tcp, http,
/// mail) does with it alike: bind it, hold the runtime new connections take (a reload swaps it,
/// open connections keep theirs), count connections under the relay's limit, and stop. At the
/// limit every loop stops accepting, so further clients wait in the kernel's backlog (HAProxy's
/// maxconn), and accepts again as connections end. The listener adds its protocol: the
/// connections it makes.
public final class RelaySocket<Runtime: AnyObject & Sendable>: Sendable {
    private final class Box: AtomicReference, Sendable {
        let runtime: Runtime
        init(_ runtime: Runtime) { self.runtime = runtime }
    }

    /// The address the relay listens on.
    public let endpoint: Endpoint
    /// The listener's identity among the engine's (see `EngineListenerID`).
    public let id = EngineListenerID.next()
    /// The listening socket.
    public let fd: Int32
    /// The engine whose loops accept from it.
    public let engine: Engine
    /// Connections open now against the relay's limit.
    public let connections: ConnectionLimit
    private let current: ManagedAtomic<Box>
    private let closed = ManagedAtomic<Bool>(false)

    /// Binds `endpoint` with room for `backlog` waiting clients, for connections that take
    /// `runtime`, at most `limit` at once; no loop accepts until `startAccepting`.
    public init(endpoint: Endpoint, backlog: Int32, runtime: Runtime, limit: Int, engine: Engine) throws(SystemError) {
        var address = ballast_address(endpoint)
        let fd = ballast_listen(&address, backlog)
        guard fd >= 0 else { throw SystemError(code: -fd, operation: "listen on \(endpoint)") }
        self.endpoint = endpoint
        self.fd = fd
        self.engine = engine
        self.connections = ConnectionLimit(limit: limit)
        self.current = ManagedAtomic(Box(runtime))
    }

    /// The runtime new connections take.
    public var runtime: Runtime { current.load(ordering: .acquiring).runtime }

    /// Makes new connections take `runtime`, at most `limit` at once from now on; returns the
    /// runtime they took before.
    @discardableResult
    public func replace(_ runtime: Runtime, limit: Int, listener: any EngineListener) -> Runtime {
        let old = current.exchange(Box(runtime), ordering: .acquiringAndReleasing).runtime
        connections.change(to: limit, listener: listener)
        return old
    }

    /// Every loop accepts for `listener`, relay `relay`'s, from now on; the log says so.
    public func startAccepting(_ listener: any EngineListener, relay: String, logger: Logger) async {
        await engine.onEveryLoop { $0.addListener(listener) }
        logger.info("relay listening", metadata: ["relay": "\(relay)", "listen": "\(endpoint)", "engine": "ballast"])
    }

    /// Every loop stops accepting for `listener` and closes those of its connections `which`
    /// picks (none by default); then the socket closes. Once only.
    public func stopAccepting(
        _ listener: any EngineListener,
        closing which: @escaping @Sendable (any EngineConnection) -> Bool = { _ in false }
    ) async {
        guard !closed.exchange(true, ordering: .acquiring) else { return }
        await engine.onEveryLoop { context in
            context.removeListener(listener)
            context.closeConnections(of: listener, which: which)
        }
        Glibc.close(fd)
    }

    /// Closes every open connection of `listener` now.
    public func closeAllConnections(of listener: any EngineListener) async {
        await engine.onEveryLoop { $0.closeConnections(of: listener) }
    }

    /// `loop` stopped accepting at the limit: the first loop to since the last resume calls
    /// `count` and says so in the log, once.
    public func loopPaused(_ loop: EngineLoop, relay: String, logger: Logger, count: () -> Void) {
        guard connections.paused(loop) else { return }
        count()
        logger.notice(
            "connection limit reached; new clients wait in the backlog",
            metadata: ["relay": "\(relay)", "limit": "\(connections.maximum)"])
    }
}

/// An engine listener built on a `RelaySocket`, whose accounting it takes as its own.
public protocol RelaySocketListener: EngineListener {
    /// What the relay's connections share.
    associatedtype Runtime: AnyObject & Sendable
    /// The listening socket.
    var socket: RelaySocket<Runtime> { get }
}

extension RelaySocketListener {
    public var id: Int { socket.id }
    public var fd: Int32 { socket.fd }
    public var endpoint: Endpoint { socket.endpoint }
    /// The runtime new connections take.
    public var runtime: Runtime { socket.runtime }
    /// Connections open now.
    public var activeConnections: Int { socket.connections.count }
    public func reserveConnection() -> Bool { socket.connections.reserve() }
    public var hasRoom: Bool { socket.connections.hasRoom }
    public func releaseConnection(on loop: EngineLoop) { socket.connections.release(listener: self) }
}
