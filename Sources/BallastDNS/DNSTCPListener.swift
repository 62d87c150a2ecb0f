import BallastCore
import BallastEngine
import CBallastLinux
import CoreMetrics
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// DNS over TCP on one listen address, accepted by every engine loop: several queries per
/// connection and zone transfers to secondaries (RFC 7766). At `dns.max-tcp-connections`
/// (1,024 by default; NSD's tcp-count is 100) the loops stop accepting until connections end, so further clients wait in the backlog.
final class DNSTCPListener: EngineListener {
    let id = EngineListenerID.next()
    let fd: Int32
    let endpoint: Endpoint
    let server: DNSServer
    /// How long a query may take to arrive whole, and a connection may stay quiet, in ms.
    let timeout: UInt64
    private let connections: ConnectionLimit
    private let open: Meter

    /// Binds `endpoint` and listens; the loops accept once `addListener` is called on them.
    init(server: DNSServer, endpoint: Endpoint, timeout: Duration, maxConnections: Int) throws {
        connections = ConnectionLimit(limit: maxConnections)
        var address = ballast_address(endpoint)
        let fd = ballast_listen(&address, 256)
        guard fd >= 0 else { throw SystemError(code: -fd, operation: "listen on \(endpoint) for DNS over TCP") }
        self.fd = fd
        self.endpoint = endpoint
        self.server = server
        self.timeout = max(1, timeout.milliseconds)
        open = Meter(label: "ballast_dns_tcp_connections_active", dimensions: [("listen", "\(endpoint)")])
    }

    func reserveConnection() -> Bool { connections.reserve() }

    var hasRoom: Bool { connections.hasRoom }

    func releaseConnection(on loop: EngineLoop) { connections.release(listener: self) }

    func loopPaused(_ loop: EngineLoop) {
        guard connections.paused(loop) else { return }
        server.logger.notice(
            "DNS over TCP at its connection limit; new clients wait in the backlog",
            metadata: ["listen": "\(endpoint)", "limit": "\(connections.maximum)"])
    }

    func makeConnection(fd: Int32, peer: Endpoint?, slot: Int, context: LoopContext) -> any EngineConnection {
        open.increment()
        return DNSTCPConnection(slot: slot, listener: self, fd: fd, client: peer?.address)
    }

    /// A connection made by `makeConnection` closed.
    func connectionClosed(on loop: EngineLoop) {
        open.decrement()
        releaseConnection(on: loop)
    }
}
