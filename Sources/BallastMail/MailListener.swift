import Atomics
public import BallastCore
public import BallastEngine
import CBallastLinux
import CoreMetrics
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// One `imap`, `imaps`, `pop3` or `pop3s` relay's listening socket on the engine, and the
/// connections accepted from it.
///
/// It outlives a reload that keeps its address: new connections take the new runtime, open
/// ones keep theirs. At the relay's connection limit every loop stops accepting until
/// connections end, so further clients wait in the kernel's backlog, as at every engine listener.
public final class MailListener: EngineListener {
    private final class RuntimeBox: AtomicReference, Sendable {
        let runtime: MailRuntime
        init(_ runtime: MailRuntime) { self.runtime = runtime }
    }

    /// The address the relay listens on.
    public let endpoint: Endpoint
    public let id: Int
    public let fd: Int32
    private let engine: Engine
    private let runtimeBox: ManagedAtomic<RuntimeBox>
    private let connections: ConnectionLimit
    private let closed = ManagedAtomic<Bool>(false)

    private init(endpoint: Endpoint, fd: Int32, engine: Engine, runtime: MailRuntime) {
        self.endpoint = endpoint
        self.id = EngineListenerID.next()
        self.fd = fd
        self.engine = engine
        self.runtimeBox = ManagedAtomic(RuntimeBox(runtime))
        self.connections = ConnectionLimit(limit: Self.limit(of: runtime))
    }

    /// Binds the relay's listening socket and starts accepting on every engine loop.
    public static func bind(
        endpoint: Endpoint, runtime: MailRuntime, engine: Engine, backlog: Int32 = 1024
    ) async throws -> MailListener {
        var address = ballast_address(endpoint)
        let fd = ballast_listen(&address, backlog)
        guard fd >= 0 else { throw SystemError(code: -fd, operation: "listen on \(endpoint)") }
        let listener = MailListener(endpoint: endpoint, fd: fd, engine: engine, runtime: runtime)
        await engine.onEveryLoop { $0.addListener(listener) }
        runtime.logger.info(
            "relay listening",
            metadata: ["relay": "\(runtime.relayName)", "listen": "\(endpoint)", "engine": "ballast"])
        return listener
    }

    /// The runtime new connections use.
    public var runtime: MailRuntime { runtimeBox.load(ordering: .acquiring).runtime }

    /// Makes new connections use `runtime` (after a reload), and its relay's connection limit
    /// hold from now on; open connections keep theirs.
    public func replaceRuntime(_ runtime: MailRuntime) {
        runtimeBox.store(RuntimeBox(runtime), ordering: .releasing)
        connections.change(to: Self.limit(of: runtime), listener: self)
    }

    /// Connections open now, logged in or not.
    public var activeConnections: Int { connections.count }

    /// Stops accepting; logged-in sessions go on, connections still before their login are
    /// closed (they hold nothing a client would lose, and shutdown need not wait for them).
    public func stopAccepting() async {
        guard !closed.exchange(true, ordering: .acquiring) else { return }
        await engine.onEveryLoop { context in
            context.removeListener(self)
            context.closeConnections(of: self, which: { ($0 as? MailConnection)?.isLoggedIn == false })
        }
        Glibc.close(fd)
    }

    /// Closes every open connection now.
    public func closeAllConnections() async {
        await engine.onEveryLoop { $0.closeConnections(of: self) }
    }

    // MARK: EngineListener

    public func reserveConnection() -> Bool { connections.reserve() }

    public var hasRoom: Bool { connections.hasRoom }

    public func releaseConnection(on loop: EngineLoop) { connections.release(listener: self) }

    public func loopPaused(_ loop: EngineLoop) {
        guard connections.paused(loop) else { return }
        let runtime = self.runtime
        runtime.limitReached.increment()
        runtime.logger.notice(
            "connection limit reached; new clients wait in the backlog",
            metadata: ["relay": "\(runtime.relayName)", "limit": "\(connections.maximum)"])
    }

    /// One at a time under implicit TLS: a handshake is the costliest thing a loop does.
    public var acceptBatch: Int { runtime.implicitTLS ? 1 : 16 }

    public func makeConnection(fd: Int32, peer: Endpoint?, slot: Int, context: LoopContext) -> any EngineConnection {
        MailConnection(slot: slot, listener: self, runtime: runtime, fd: fd, client: peer, loop: context.loop)
    }

    private static func limit(of runtime: MailRuntime) -> Int {
        runtime.relay?.maxConnections ?? 0
    }
}
