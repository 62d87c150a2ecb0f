import Atomics
public import BallastCore
import BallastNIO
import BallastReporting
import CoreMetrics
import Logging
public import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOPosix
import NIOSSL
import NIOTLS
import Synchronization

/// One `http` or `https` relay's listening socket and the connections accepted from it.
///
/// Like the TCP relay's listener it outlives a reload that keeps its address: new
/// connections take the new runtime (and so renewed certificates), open ones keep theirs.
/// At the relay's connection limit it stops accepting until connections end.
public final class HTTPListener: Sendable {

    /// The address the relay listens on.
    public let endpoint: Endpoint
    private let serverChannel: any Channel
    private let current: Mutex<HTTPRuntime>
    private let connections: Mutex<[ObjectIdentifier: any Channel]>
    private let active = ManagedAtomic<Int>(0)
    private let paused = ManagedAtomic<Bool>(false)

    private init(endpoint: Endpoint, serverChannel: any Channel, runtime: HTTPRuntime) {
        self.endpoint = endpoint
        self.serverChannel = serverChannel
        self.current = Mutex(runtime)
        self.connections = Mutex([:])
    }

    /// Binds the relay's listening socket on `group`.
    public static func bind(endpoint: Endpoint, runtime: HTTPRuntime, group: any EventLoopGroup) async throws -> HTTPListener {
        let box = ListenerBox()
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 1024)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                guard let listener = box.listener.withLock({ $0 }) else {
                    return channel.close()
                }
                return listener.accepted(channel)
            }
            .bind(to: SocketAddress(endpoint))
            .get()
        let listener = HTTPListener(endpoint: endpoint, serverChannel: channel, runtime: runtime)
        box.listener.withLock { $0 = listener }
        runtime.logger.info("relay listening", metadata: ["relay": "\(runtime.relayName)", "listen": "\(endpoint)"])
        return listener
    }

    /// The runtime new connections use.
    public var runtime: HTTPRuntime { current.withLock { $0 } }

    /// Makes new connections use `runtime` (after a reload); open ones keep theirs.
    public func replaceRuntime(_ runtime: HTTPRuntime) {
        let old = current.withLock { value in
            let old = value
            value = runtime
            return old
        }
        if old !== runtime { old.closeIdleServerConnections() }
        updateAccepting()
    }

    /// Connections open now.
    public var activeConnections: Int { active.load(ordering: .relaxed) }

    /// Stops accepting; open connections go on.
    public func stopAccepting() async {
        try? await serverChannel.close()
    }

    /// Closes every open connection now.
    public func closeAllConnections() async {
        let open = connections.withLock { Array($0.values) }
        for channel in open { try? await channel.close() }
        runtime.closeIdleServerConnections()
    }

    private func accepted(_ channel: any Channel) -> EventLoopFuture<Void> {
        let runtime = self.runtime
        guard let relay = runtime.store.current.relay(named: runtime.relayName),
            let remote = channel.remoteAddress?.ipAddress.flatMap({ IPAddress($0) })
        else {
            return channel.close()
        }
        let id = ObjectIdentifier(channel)
        connections.withLock { $0[id] = channel }
        active.wrappingIncrement(ordering: .relaxed)
        runtime.metrics.connections.increment()
        runtime.metrics.active.increment()
        updateAccepting()
        channel.closeFuture.whenComplete { [self] _ in
            connections.withLock { $0[id] = nil }
            active.wrappingDecrement(ordering: .relaxed)
            runtime.metrics.active.decrement()
            updateAccepting()
        }
        let client = ForwardingHeaders.Client(
            address: remote, isTLS: runtime.tls.termination != nil, relayAddress: relay.listen)
        return channel.eventLoop.makeCompletedFuture {
            let sync = channel.pipeline.syncOperations
            try sync.addHandler(IdleStateHandler(allTimeout: TimeAmount(relay.timeouts.idle)))
            guard let tls = runtime.tls.termination else {
                try Self.addHTTP1(to: channel, runtime: runtime, relay: relay, client: client)
                return
            }
            try sync.addHandler(NIOSSLServerHandler(context: tls))
            try sync.addHandler(
                ConnectionDeadline(
                    timeout: TimeAmount(relay.timeouts.handshake), milestone: .tlsHandshake, listener: relay.name,
                    reason: "TLS handshake not done within timeouts.handshake", logger: runtime.logger))
            try sync.addHandler(
                ApplicationProtocolNegotiationHandler { result, channel in
                    if case .negotiated("h2") = result {
                        do {
                            try channel.pipeline.syncOperations.addHandler(
                                HTTP2ConnectionGuard(
                                    prefaceTimeout: relay.http.timeouts.request, listener: relay.name, logger: runtime.logger))
                        } catch {
                            return channel.eventLoop.makeFailedFuture(error)
                        }
                        return channel.configureHTTP2Pipeline(mode: .server) { stream in
                            stream.eventLoop.makeCompletedFuture {
                                let ender = HTTP2StreamEnder()
                                try stream.pipeline.syncOperations.addHandler(ender)
                                try stream.pipeline.syncOperations.addHandler(HTTP2FramePayloadToHTTP1ServerCodec())
                                try stream.pipeline.syncOperations.addHandler(
                                    HTTPProxyHandler(
                                        runtime: runtime, client: client, isHTTP2: true, headTimer: nil, streamEnder: ender),
                                    name: HTTPProxyHandler.name)
                            }
                        }.map { _ in }
                    }
                    return channel.eventLoop.makeCompletedFuture {
                        try Self.addHTTP1(to: channel, runtime: runtime, relay: relay, client: client)
                    }
                })
        }
    }

    private static func addHTTP1(
        to channel: any Channel, runtime: HTTPRuntime, relay: Relay, client: ForwardingHeaders.Client
    ) throws {
        let sync = channel.pipeline.syncOperations
        let timer = RequestHeadTimer(
            request: relay.http.timeouts.request, keepAlive: relay.http.timeouts.keepAlive, listener: relay.name,
            logger: runtime.logger)
        try sync.addHandler(timer, name: RequestHeadTimer.name)
        // NIO's own setup pairs the encoder with the decoder, so that responses to HEAD carry no
        // body; pipelining and errors are the proxy handler's.
        try sync.configureHTTPServerPipeline(withPipeliningAssistance: false, withErrorHandling: false)
        try sync.addHandler(
            HTTPProxyHandler(runtime: runtime, client: client, isHTTP2: false, headTimer: timer),
            name: HTTPProxyHandler.name)
    }

    /// Pauses accepting at the relay's connection limit and resumes below it. Decided on the
    /// listening channel's event loop from the count as it is then, so that a pause and a resume
    /// decided on two threads cannot land in the wrong order and leave the listener paused.
    private func updateAccepting() {
        serverChannel.eventLoop.execute { [self] in
            let runtime = self.runtime
            let limit = runtime.store.current.relay(named: runtime.relayName)?.maxConnections ?? .max
            let full = active.load(ordering: .relaxed) >= limit
            guard paused.exchange(full, ordering: .relaxed) != full else { return }
            if full {
                BadInputLog.shared.report(
                    listener: runtime.relayName, reason: "relay at its connection limit; accepting paused", client: "-",
                    logger: runtime.logger, detail: "max-connections \(limit)")
            }
            serverChannel.setOption(.autoRead, value: !full).whenFailure { _ in }
            if !full { serverChannel.read() }
        }
    }
}

/// Lets the child initializer reach the listener, which exists only once the bind is done.
private final class ListenerBox: Sendable {
    let listener = Mutex<HTTPListener?>(nil)
}
