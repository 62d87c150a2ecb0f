public import BallastCore
public import BallastEngine
import CoreMetrics
import Logging

/// One relay's listening socket and the connections accepted from it.
///
/// A listener outlives a reload that keeps its address: it swaps in the new runtime and
/// new connections follow the new settings, while open ones keep theirs. At the relay's
/// connection limit it stops accepting, so further clients wait in the kernel's backlog
/// (as HAProxy's maxconn does), and resumes as connections end.
public final class RelayListener: RelaySocketListener {
    public let socket: RelaySocket<RelayRuntime>

    private init(socket: RelaySocket<RelayRuntime>) { self.socket = socket }

    /// Binds the relay's listening socket and starts accepting on every relay thread.
    public static func bind(
        endpoint: Endpoint, runtime: RelayRuntime, engine: Engine
    ) async throws -> RelayListener {
        let listener = RelayListener(
            socket: try RelaySocket(
                endpoint: endpoint, backlog: runtime.tuning.backlog, runtime: runtime, limit: limit(of: runtime),
                engine: engine))
        await listener.socket.startAccepting(listener, relay: runtime.relayName, logger: runtime.logger)
        return listener
    }

    /// Makes new connections use `runtime` (after a reload); open ones keep theirs.
    public func replaceRuntime(_ runtime: RelayRuntime) {
        socket.replace(runtime, limit: Self.limit(of: runtime), listener: self)
    }

    /// Stops accepting; open connections go on.
    public func stopAccepting() async { await socket.stopAccepting(self) }

    /// Closes every open connection now.
    public func closeAllConnections() async { await socket.closeAllConnections(of: self) }

    public func loopPaused(_ loop: EngineLoop) {
        let runtime = self.runtime
        socket.loopPaused(loop, relay: runtime.relayName, logger: runtime.logger) {
            runtime.metrics.limitReached.increment()
        }
    }

    /// A relayed connection for a client just accepted.
    public func makeConnection(fd: Int32, peer: Endpoint?, slot: Int, context: LoopContext) -> any EngineConnection {
        RelayConnection(slot: slot, listener: self, runtime: runtime, front: fd, client: peer)
    }

    private static func limit(of runtime: RelayRuntime) -> Int {
        runtime.state.current.relay(named: runtime.relayName)?.maxConnections ?? 0
    }
}
