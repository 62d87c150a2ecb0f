import Atomics
public import BallastCore
public import BallastEngine
import CBallastLinux
import CoreMetrics
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// One `http` relay's listening socket on the engine and the connections accepted from it.
///
/// It outlives a reload that keeps its address: new connections take the new runtime, open
/// ones keep theirs. At the relay's connection limit every loop stops accepting until
/// connections end, as the TCP relay's listener does.
public final class EngineHTTPListener: EngineListener {
    private final class RuntimeBox: AtomicReference, Sendable {
        let runtime: EngineHTTPRuntime
        init(_ runtime: EngineHTTPRuntime) { self.runtime = runtime }
    }

    /// The address the relay listens on.
    public let endpoint: Endpoint
    public let id: Int
    public let fd: Int32
    let engine: Engine
    private let runtimeBox: ManagedAtomic<RuntimeBox>
    private let connections: ConnectionLimit
    private let closed = ManagedAtomic<Bool>(false)

    private init(endpoint: Endpoint, fd: Int32, engine: Engine, runtime: EngineHTTPRuntime) {
        self.endpoint = endpoint
        self.id = EngineListenerID.next()
        self.fd = fd
        self.engine = engine
        self.runtimeBox = ManagedAtomic(RuntimeBox(runtime))
        self.connections = ConnectionLimit(limit: Self.limit(of: runtime))
    }

    /// Binds the relay's listening socket and starts accepting on every engine loop.
    public static func bind(
        endpoint: Endpoint, runtime: EngineHTTPRuntime, engine: Engine, backlog: Int32 = 4096
    )
        async throws -> EngineHTTPListener
    {
        var address = ballast_address(endpoint)
        let fd = ballast_listen(&address, backlog)
        guard fd >= 0 else { throw SystemError(code: -fd, operation: "listen on \(endpoint)") }
        let listener = EngineHTTPListener(endpoint: endpoint, fd: fd, engine: engine, runtime: runtime)
        await engine.onEveryLoop { $0.addListener(listener) }
        runtime.logger.info(
            "relay listening",
            metadata: ["relay": "\(runtime.relayName)", "listen": "\(endpoint)", "engine": "ballast"])
        return listener
    }

    /// The runtime new connections use.
    public var runtime: EngineHTTPRuntime { runtimeBox.load(ordering: .acquiring).runtime }

    /// Makes new connections use `runtime` (after a reload); open ones keep theirs, and the
    /// old runtime's idle connections to servers are closed.
    public func replaceRuntime(_ runtime: EngineHTTPRuntime) async {
        let old = runtimeBox.exchange(RuntimeBox(runtime), ordering: .acquiringAndReleasing).runtime
        connections.change(to: Self.limit(of: runtime), listener: self)
        if old !== runtime { await old.closeIdleServerConnections(on: engine) }
    }

    /// Connections open now.
    public var activeConnections: Int { connections.count }

    /// Stops accepting; open connections go on.
    public func stopAccepting() async {
        guard !closed.exchange(true, ordering: .acquiring) else { return }
        await engine.onEveryLoop { $0.removeListener(self) }
        Glibc.close(fd)
    }

    /// Closes every open connection now, and the idle ones to servers.
    public func closeAllConnections() async {
        await engine.onEveryLoop { $0.closeConnections(of: self) }
        await runtime.closeIdleServerConnections(on: engine)
    }

    // MARK: EngineListener

    public func reserveConnection() -> Bool { connections.reserve() }

    public var hasRoom: Bool { connections.hasRoom }

    public func releaseConnection(on loop: EngineLoop) { connections.release(listener: self) }

    public func loopPaused(_ loop: EngineLoop) {
        guard connections.paused(loop) else { return }
        let runtime = self.runtime
        runtime.metrics.limitReached.increment()
        runtime.logger.notice(
            "connection limit reached; new clients wait in the backlog",
            metadata: ["relay": "\(runtime.relayName)", "limit": "\(connections.maximum)"])
    }

    /// One at a time under TLS: a handshake is the costliest thing a loop does, and a batch of
    /// them on one loop leaves the others idle.
    public var acceptBatch: Int { runtime.termination == nil ? 16 : 1 }

    public func makeConnection(fd: Int32, peer: Endpoint?, slot: Int, context: LoopContext) -> any EngineConnection {
        let runtime = self.runtime
        return HTTPEngineConnection(
            slot: slot, listener: self, runtime: runtime, fd: fd, client: peer, heads: runtime.heads[context.loop.index]
        )
    }

    private static func limit(of runtime: EngineHTTPRuntime) -> Int {
        runtime.state.current.relay(named: runtime.relayName)?.maxConnections ?? 0
    }
}
