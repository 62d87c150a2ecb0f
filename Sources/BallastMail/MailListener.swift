public import BallastCore
public import BallastEngine
import CoreMetrics
import Logging

/// One `imap`, `imaps`, `pop3` or `pop3s` relay's listening socket on the engine, and the
/// connections accepted from it.
///
/// It outlives a reload that keeps its address: new connections take the new runtime, open
/// ones keep theirs. At the relay's connection limit every loop stops accepting until
/// connections end, so further clients wait in the kernel's backlog, as at every engine listener.
public final class MailListener: RelaySocketListener {
    public let socket: RelaySocket<MailRuntime>

    private init(socket: RelaySocket<MailRuntime>) { self.socket = socket }

    /// Binds the relay's listening socket and starts accepting on every engine loop.
    public static func bind(
        endpoint: Endpoint, runtime: MailRuntime, engine: Engine, backlog: Int32 = 1024
    ) async throws -> MailListener {
        let listener = MailListener(
            socket: try RelaySocket(
                endpoint: endpoint, backlog: backlog, runtime: runtime, limit: limit(of: runtime), engine: engine))
        await listener.socket.startAccepting(listener, relay: runtime.relayName, logger: runtime.logger)
        return listener
    }

    /// Makes new connections use `runtime` (after a reload), and its relay's connection limit
    /// hold from now on; open connections keep theirs.
    public func replaceRuntime(_ runtime: MailRuntime) {
        socket.replace(runtime, limit: Self.limit(of: runtime), listener: self)
    }

    /// Stops accepting; logged-in sessions go on, connections still before their login are
    /// closed (they hold nothing a client would lose, and shutdown need not wait for them).
    public func stopAccepting() async {
        await socket.stopAccepting(self, closing: { ($0 as? MailConnection)?.isLoggedIn == false })
    }

    /// Closes every open connection now.
    public func closeAllConnections() async { await socket.closeAllConnections(of: self) }

    public func loopPaused(_ loop: EngineLoop) {
        let runtime = self.runtime
        socket.loopPaused(loop, relay: runtime.relayName, logger: runtime.logger) { runtime.limitReached.increment() }
    }

    /// One at a time under implicit TLS: a handshake is the costliest thing a loop does.
    public var acceptBatch: Int { runtime.implicitTLS ? 1 : 16 }

    public func makeConnection(fd: Int32, peer: Endpoint?, slot: Int, context: LoopContext) -> any EngineConnection {
        MailConnection(slot: slot, listener: self, runtime: runtime, fd: fd, client: peer)
    }

    private static func limit(of runtime: MailRuntime) -> Int {
        runtime.relay?.maxConnections ?? 0
    }
}
