import Atomics
public import BallastCore
public import BallastEngine
import CBallastLinux
import CoreMetrics
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// One relay's listening socket and the connections accepted from it.
///
/// A listener outlives a reload that keeps its address: it swaps in the new runtime and
/// new connections follow the new settings, while open ones keep theirs. At the relay's
/// connection limit it stops accepting, so further clients wait in the kernel's backlog
/// (as HAProxy's maxconn does), and resumes as connections end.
public final class RelayListener: EngineListener {
    private final class RuntimeBox: AtomicReference, Sendable {
        let runtime: RelayRuntime
        init(_ runtime: RelayRuntime) { self.runtime = runtime }
    }

    /// The address the relay listens on.
    public let endpoint: Endpoint
    public let id: Int
    public let fd: Int32
    private let engine: Engine
    private let runtimeBox: ManagedAtomic<RuntimeBox>
    private let connections: ConnectionLimit
    private let closed = ManagedAtomic<Bool>(false)

    private init(endpoint: Endpoint, fd: Int32, engine: Engine, runtime: RelayRuntime) {
        self.endpoint = endpoint
        self.id = EngineListenerID.next()
        self.fd = fd
        self.engine = engine
        self.runtimeBox = ManagedAtomic(RuntimeBox(runtime))
        self.connections = ConnectionLimit(limit: Self.limit(of: runtime))
    }

    /// Binds the relay's listening socket and starts accepting on every relay thread.
    public static func bind(
        endpoint: Endpoint, runtime: RelayRuntime, engine: Engine
    ) async throws -> RelayListener {
        var address = ballast_address(endpoint)
        let fd = ballast_listen(&address, runtime.tuning.backlog)
        guard fd >= 0 else { throw SystemError(code: -fd, operation: "listen on \(endpoint)") }
        let listener = RelayListener(endpoint: endpoint, fd: fd, engine: engine, runtime: runtime)
        await engine.onEveryLoop { $0.addListener(listener) }
        runtime.logger.info("relay listening", metadata: ["relay": "\(runtime.relayName)", "listen": "\(endpoint)"])
        return listener
    }

    /// The runtime new connections use.
    public var runtime: RelayRuntime { runtimeBox.load(ordering: .acquiring).runtime }

    /// Makes new connections use `runtime` (after a reload); open ones keep theirs.
    public func replaceRuntime(_ runtime: RelayRuntime) {
        runtimeBox.store(RuntimeBox(runtime), ordering: .releasing)
        connections.change(to: Self.limit(of: runtime), listener: self)
    }

    /// Connections open now.
    public var activeConnections: Int { connections.count }

    /// Stops accepting; open connections go on.
    public func stopAccepting() async {
        guard !closed.exchange(true, ordering: .acquiring) else { return }
        await engine.onEveryLoop { $0.removeListener(self) }
        Glibc.close(fd)
    }

    /// Closes every open connection now.
    public func closeAllConnections() async {
        await engine.onEveryLoop { $0.closeConnections(of: self) }
    }

    // MARK: Accounting, from the relay threads

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

    /// A relayed connection for a client just accepted.
    public func makeConnection(fd: Int32, peer: Endpoint?, slot: Int, context: LoopContext) -> any EngineConnection {
        RelayConnection(slot: slot, listener: self, runtime: runtime, front: fd, client: peer)
    }

    private static func limit(of runtime: RelayRuntime) -> Int {
        runtime.state.current.relay(named: runtime.relayName)?.maxConnections ?? 0
    }
}
