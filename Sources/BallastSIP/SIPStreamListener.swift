import BallastCore
import BallastEngine
import BallastReporting
import BallastSIPRegistrar
import BallastTLS
import CBallastLinux
import CoreMetrics
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// SIP over TCP or TLS on one listen address, accepted by every engine loop: several requests
/// per connection, answered in order. At `sip.max-connections` the loops stop accepting
/// until connections end, so further clients wait in the backlog.
final class SIPStreamListener: EngineListener {
    let id = EngineListenerID.next()
    let fd: Int32
    let endpoint: Endpoint
    let registrar: SIPRegistrar
    /// The clock requests are answered at.
    let time: TimeSource
    let journal: RegistrationJournal?
    /// The pool whose registrar this listener is, nil for the director.
    let pool: String?
    /// TLS, for a `tls://` listener.
    let tls: TLSServerContext?
    let logger: Logger
    /// For a TLS handshake to finish, and for a message to arrive whole once begun, in ms.
    let handshakeTimeout: UInt64
    let messageTimeout: UInt64
    /// A connection with no message for this long is closed, in ms: longer than any
    /// registration refresh, so that clients behind NAT keep their connection.
    let idleTimeout: UInt64 = 2 * 3_600_000
    private let connections: ConnectionLimit
    private let open: Meter

    var transport: SIPSettings.Transport { tls == nil ? .tcp : .tls }

    /// Binds `endpoint` and listens; the loops accept once `addListener` is called on them.
    init(
        endpoint: Endpoint, pool: String?, tls: TLSServerContext?, registrar: SIPRegistrar,
        journal: RegistrationJournal?,
        handshakeTimeout: Duration, messageTimeout: Duration, maxConnections: Int, time: TimeSource, logger: Logger
    ) throws {
        connections = ConnectionLimit(limit: maxConnections)
        self.time = time
        var address = ballast_address(endpoint)
        let fd = ballast_listen(&address, 1024)
        guard fd >= 0 else { throw SystemError(code: -fd, operation: "listen on \(endpoint) for SIP") }
        self.fd = fd
        self.endpoint = endpoint
        self.pool = pool
        self.tls = tls
        self.registrar = registrar
        self.journal = journal
        self.logger = logger
        self.handshakeTimeout = max(1, handshakeTimeout.milliseconds)
        self.messageTimeout = max(1, messageTimeout.milliseconds)
        open = Meter(
            label: "ballast_sip_connections_active",
            dimensions: [("listen", "\(tls == nil ? "tcp" : "tls")://\(endpoint)")])
    }

    func reserveConnection() -> Bool { connections.reserve() }

    var hasRoom: Bool { connections.hasRoom }

    func releaseConnection(on loop: EngineLoop) { connections.release(listener: self) }

    /// A new limit from a reload.
    func changeMaxConnections(to limit: Int) { connections.change(to: limit, listener: self) }

    func loopPaused(_ loop: EngineLoop) {
        guard connections.paused(loop) else { return }
        BadInputLog.shared.report(
            listener: "sip-\(transport) \(endpoint)", reason: "connection refused: listener full", client: "-",
            logger: logger,
            detail: "limit \(connections.maximum); new clients wait in the backlog")
    }

    /// A TLS handshake costs much at its start: few per wake, so that the other loops take some.
    var acceptBatch: Int { tls == nil ? 16 : 4 }

    func makeConnection(fd: Int32, peer: Endpoint?, slot: Int, context: LoopContext) -> any EngineConnection {
        open.increment()
        // An answer is one small write: it must not wait for the client's ACK of the one before.
        _ = ballast_set_nodelay(fd)
        let session = tls.flatMap { TLSConnection(accepting: fd, context: $0) }
        return SIPStreamConnection(
            slot: slot, listener: self, io: SocketIO(fd: fd, tls: session), peer: peer, loop: context.loop,
            tlsFailed: tls != nil && session == nil)
    }

    /// A connection made by `makeConnection` closed.
    func connectionClosed(on loop: EngineLoop) {
        open.decrement()
        releaseConnection(on: loop)
    }
}
