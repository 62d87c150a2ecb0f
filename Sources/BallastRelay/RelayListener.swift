import Atomics
public import BallastCore
import BallastNIO
import CoreMetrics
import Logging
public import NIOCore
import NIOPosix
import Synchronization

/// One relay's listening socket and the connections it accepted.
///
/// The listener outlives a reload that keeps its address: it swaps in the new runtime and
/// new connections follow the new settings, while open ones are left alone.
public final class RelayListener: Sendable {
    private final class RuntimeBox: AtomicReference, Sendable {
        let runtime: RelayRuntime
        init(_ runtime: RelayRuntime) { self.runtime = runtime }
    }

    /// The address the relay listens on.
    public let endpoint: Endpoint
    /// The address actually bound (differs from `endpoint` when it asked for port 0).
    public let boundAddress: SocketAddress
    private let serverChannel: any Channel
    private let runtimeBox: ManagedAtomic<RuntimeBox>
    private let tracker: ConnectionTracker

    private init(
        endpoint: Endpoint, serverChannel: any Channel, runtimeBox: ManagedAtomic<RuntimeBox>, tracker: ConnectionTracker
    ) {
        self.endpoint = endpoint
        self.serverChannel = serverChannel
        self.boundAddress = serverChannel.localAddress ?? SocketAddress(endpoint)
        self.runtimeBox = runtimeBox
        self.tracker = tracker
    }

    /// Binds the relay's listener.
    public static func bind(
        endpoint: Endpoint, runtime: RelayRuntime, group: any EventLoopGroup
    ) async throws -> RelayListener {
        let box = ManagedAtomic(RuntimeBox(runtime))
        let tracker = ConnectionTracker()
        let tuning = runtime.tuning
        var bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: tuning.backlog)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.maxMessagesPerRead, value: 16)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let limiter = ConnectionLimitHandler(tracker: tracker) {
                        let runtime = box.load(ordering: .acquiring).runtime
                        return (runtime.store.current.relay(named: runtime.relayName)?.maxConnections ?? 0, runtime)
                    }
                    try channel.pipeline.syncOperations.addHandler(limiter)
                }
            }
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.writeBufferWaterMark, value: tuning.writeWaterMark)
            .childChannelOption(.recvAllocator, value: tuning.recvAllocator)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let runtime = box.load(ordering: .acquiring).runtime
                    let session = RelaySession(runtime: runtime, eventLoop: channel.eventLoop)
                    try channel.pipeline.syncOperations.addHandler(RelaySideHandler(session: session, side: .front))
                }
            }
        if let size = tuning.socketReceiveBuffer {
            bootstrap = bootstrap.childChannelOption(.socketOption(.so_rcvbuf), value: SocketOptionValue(size))
        }
        let channel = try await bootstrap.bind(to: SocketAddress(endpoint)).get()
        runtime.logger.info("relay listening", metadata: ["relay": "\(runtime.relayName)", "listen": "\(endpoint)"])
        return RelayListener(endpoint: endpoint, serverChannel: channel, runtimeBox: box, tracker: tracker)
    }

    /// The runtime new connections use.
    public var runtime: RelayRuntime { runtimeBox.load(ordering: .acquiring).runtime }

    /// Makes new connections use `runtime` (after a reload); open ones keep theirs.
    public func replaceRuntime(_ runtime: RelayRuntime) {
        runtimeBox.store(RuntimeBox(runtime), ordering: .releasing)
        // A higher limit may let waiting clients in.
        serverChannel.pipeline.fireUserInboundEventTriggered(ConnectionLimitHandler.LimitChanged())
    }

    /// Connections open now.
    public var activeConnections: Int { tracker.count }

    /// Stops accepting; open connections go on.
    public func stopAccepting() async {
        try? await serverChannel.close()
    }

    /// Closes every open connection now.
    public func closeAllConnections() {
        tracker.closeAll()
    }
}

/// Counts a listener's open connections and can close them all.
final class ConnectionTracker: Sendable {
    private let counter = ManagedAtomic<Int>(0)
    private let channels = Mutex<[ObjectIdentifier: any Channel]>([:])

    var count: Int { counter.load(ordering: .relaxed) }

    func add(_ channel: any Channel) -> Int {
        channels.withLock { $0[ObjectIdentifier(channel)] = channel }
        return counter.wrappingIncrementThenLoad(ordering: .relaxed)
    }

    func remove(_ channel: any Channel) -> Int {
        channels.withLock { $0[ObjectIdentifier(channel)] = nil }
        return counter.wrappingDecrementThenLoad(ordering: .relaxed)
    }

    func closeAll() {
        for channel in channels.withLock({ Array($0.values) }) {
            channel.close(promise: nil)
        }
    }
}

/// On a listening channel: accepts no more than the relay's connection limit. At the limit
/// it stops calling accept, so further clients wait in the kernel's backlog (as HAProxy's
/// maxconn does); the few accepted in the same burst past the limit are closed.
final class ConnectionLimitHandler: ChannelDuplexHandler {
    typealias InboundIn = any Channel
    typealias InboundOut = any Channel
    typealias OutboundIn = Never

    /// Fired into the pipeline when the limit may have changed.
    struct LimitChanged {}

    private let tracker: ConnectionTracker
    private let settings: @Sendable () -> (limit: Int, runtime: RelayRuntime)
    private var pendingRead = false
    private var context: ChannelHandlerContext?

    init(tracker: ConnectionTracker, settings: @escaping @Sendable () -> (limit: Int, runtime: RelayRuntime)) {
        self.tracker = tracker
        self.settings = settings
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let child = unwrapInboundIn(data)
        let (limit, runtime) = settings()
        if tracker.count >= limit {
            runtime.metrics.limitRejections.increment()
            runtime.logger.warning(
                "connection limit reached, closing a new client",
                metadata: ["relay": "\(runtime.relayName)", "limit": "\(limit)", "client": "\(child.remoteAddress.map { "\($0)" } ?? "?")"])
            child.close(promise: nil)
            return
        }
        _ = tracker.add(child)
        let loop = context.eventLoop
        let bound = NIOLoopBound(self, eventLoop: loop)
        let tracker = self.tracker
        child.closeFuture.whenComplete { _ in
            _ = tracker.remove(child)
            loop.execute { bound.value.connectionClosed() }
        }
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is LimitChanged {
            connectionClosed()
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func read(context: ChannelHandlerContext) {
        if tracker.count >= settings().limit {
            pendingRead = true
        } else {
            context.read()
        }
    }

    private func connectionClosed() {
        guard pendingRead, let context, tracker.count < settings().limit else { return }
        pendingRead = false
        context.read()
    }
}
