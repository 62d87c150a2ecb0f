import Atomics
public import BallastCore
import BallastNIO
import BallastReporting
import CoreMetrics
import Logging
public import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// One `imap`, `imaps`, `pop3` or `pop3s` relay's listening socket and its connections.
/// New connections take the runtime current at accept time; a reload keeps open ones.
public final class MailListener: Sendable {
    /// The address the relay listens on.
    public let endpoint: Endpoint
    private let serverChannel: any Channel
    private let current: Mutex<MailRuntime>
    private let connections = Mutex<[ObjectIdentifier: any Channel]>([:])
    private let active = ManagedAtomic<Int>(0)

    private init(endpoint: Endpoint, serverChannel: any Channel, runtime: MailRuntime) {
        self.endpoint = endpoint
        self.serverChannel = serverChannel
        self.current = Mutex(runtime)
    }

    /// Binds the relay's socket on `group`.
    public static func bind(
        endpoint: Endpoint, runtime: MailRuntime, group: any EventLoopGroup
    ) async throws -> MailListener {
        let box = Mutex<MailListener?>(nil)
        let initial = runtime.relay?.maxConnections ?? Int.max
        let logger = runtime.logger
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 1024)
            // One accept per read, so that the limiter stops reading at the limit exactly.
            .serverChannelOption(.maxMessagesPerRead, value: 1)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        AcceptLimiter(
                            limit: { box.withLock { $0?.runtime.relay?.maxConnections } ?? initial },
                            paused: { limit in
                                guard let runtime = box.withLock({ $0?.runtime }) else { return }
                                runtime.limitReached.increment()
                                logger.notice(
                                    "connection limit reached; new clients wait in the backlog",
                                    metadata: ["relay": "\(runtime.relayName)", "limit": "\(limit)"])
                            }))
                }
            }
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                guard let listener = box.withLock({ $0 }) else { return channel.close() }
                return listener.accepted(channel)
            }
            .bind(to: SocketAddress(endpoint))
            .get()
        let listener = MailListener(endpoint: endpoint, serverChannel: channel, runtime: runtime)
        box.withLock { $0 = listener }
        runtime.logger.info("relay listening", metadata: ["relay": "\(runtime.relayName)", "listen": "\(endpoint)"])
        return listener
    }

    /// The runtime new connections use.
    public var runtime: MailRuntime { current.withLock { $0 } }

    /// Makes new connections use `runtime` (after a reload), and its relay's connection limit
    /// hold from now on.
    public func replaceRuntime(_ runtime: MailRuntime) {
        current.withLock { $0 = runtime }
        let channel = serverChannel
        channel.eventLoop.execute {
            try? channel.pipeline.syncOperations.handler(type: AcceptLimiter.self).limitChanged()
        }
    }

    /// Connections open now, logged in or not.
    public var activeConnections: Int { active.load(ordering: .relaxed) }

    /// Stops accepting; logged-in sessions go on, connections still before their login are closed
    /// (they hold nothing a client would lose, and shutdown need not wait for them).
    public func stopAccepting() async {
        try? await serverChannel.close()
        let sessions = runtime.sessions
        for channel in connections.withLock({ Array($0.values) }) where !sessions.contains(client: channel) {
            try? await channel.close()
        }
    }

    /// Closes every open connection now.
    public func closeAllConnections() async {
        for channel in connections.withLock({ Array($0.values) }) { try? await channel.close() }
    }

    private func accepted(_ channel: any Channel) -> EventLoopFuture<Void> {
        let runtime = self.runtime
        guard let relay = runtime.relay else { return channel.close() }
        let id = ObjectIdentifier(channel)
        connections.withLock { $0[id] = channel }
        active.wrappingIncrement(ordering: .relaxed)
        runtime.active.increment()
        channel.closeFuture.whenComplete { [self] _ in
            connections.withLock { $0[id] = nil }
            active.wrappingDecrement(ordering: .relaxed)
            runtime.active.decrement()
        }
        let client = channel.remoteAddress?.description ?? "?"
        return channel.eventLoop.makeCompletedFuture {
            let sync = channel.pipeline.syncOperations
            let implicitTLS = relay.protocol.isImplicitTLS
            if implicitTLS, let tls = runtime.tls {
                try sync.addHandler(NIOSSLServerHandler(context: tls))
                try sync.addHandler(runtime.handshakeDeadline(relay))
            }
            try sync.addHandler(IdleStateHandler(allTimeout: TimeAmount(relay.timeouts.idle)))
            try sync.addHandler(IdleCloser())
            // Until the login succeeds; the front handler says when.
            let login = ConnectionDeadline(
                timeout: TimeAmount(relay.mailTimeouts.login), milestone: .signalled,
                listener: relay.name,
                reason: "no login within timeouts.login", logger: runtime.logger)
            try sync.addHandler(login)
            switch relay.protocol {
            case .pop3, .pop3s:
                try sync.addHandler(
                    POP3FrontHandler(runtime: runtime, clientAddress: client, isTLS: implicitTLS, loginDeadline: login))
            default:
                try sync.addHandler(
                    IMAPFrontHandler(runtime: runtime, clientAddress: client, isTLS: implicitTLS, loginDeadline: login))
            }
        }
    }
}

/// Closes a connection when its idle timer fires, before or after login.
final class IdleCloser: ChannelInboundHandler {
    typealias InboundIn = NIOAny

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}
