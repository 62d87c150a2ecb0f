public import BallastCore
public import BallastEngine
import CoreMetrics
import Logging

/// One `http` relay's listening socket on the engine and the connections accepted from it.
///
/// It outlives a reload that keeps its address: new connections take the new runtime, open
/// ones keep theirs. At the relay's connection limit every loop stops accepting until
/// connections end, as the TCP relay's listener does.
public final class EngineHTTPListener: RelaySocketListener {
    public let socket: RelaySocket<EngineHTTPRuntime>

    private init(socket: RelaySocket<EngineHTTPRuntime>) { self.socket = socket }

    /// The engine its connections run on.
    var engine: Engine { socket.engine }

    /// Binds the relay's listening socket and starts accepting on every engine loop.
    public static func bind(
        endpoint: Endpoint, runtime: EngineHTTPRuntime, engine: Engine, backlog: Int32 = 4096
    ) async throws -> EngineHTTPListener {
        let listener = EngineHTTPListener(
            socket: try RelaySocket(
                endpoint: endpoint, backlog: backlog, runtime: runtime, limit: limit(of: runtime), engine: engine))
        await listener.socket.startAccepting(listener, relay: runtime.relayName, logger: runtime.logger)
        return listener
    }

    /// Makes new connections use `runtime` (after a reload); open ones keep theirs, and the
    /// old runtime's idle connections to servers are closed.
    public func replaceRuntime(_ runtime: EngineHTTPRuntime) async {
        let old = socket.replace(runtime, limit: Self.limit(of: runtime), listener: self)
        if old !== runtime { await old.closeIdleServerConnections(on: engine) }
    }

    /// Stops accepting; open connections go on.
    public func stopAccepting() async { await socket.stopAccepting(self) }

    /// Closes every open connection now, and the idle ones to servers.
    public func closeAllConnections() async {
        await socket.closeAllConnections(of: self)
        await runtime.closeIdleServerConnections(on: engine)
    }

    public func loopPaused(_ loop: EngineLoop) {
        let runtime = self.runtime
        socket.loopPaused(loop, relay: runtime.relayName, logger: runtime.logger) {
            runtime.metrics.limitReached.increment()
        }
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
