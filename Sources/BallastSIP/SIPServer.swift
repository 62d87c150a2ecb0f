import BallastCodecs
public import BallastCore
import BallastNIO
import BallastReporting
public import Logging
public import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The SIP listeners of a node: UDP, TCP and TLS on each registrar's and the director's
/// addresses, all answering through one `SIPRegistrar`.
public final class SIPServer: Sendable {
    /// The most TCP and TLS connections open at once per listener.
    public static let maxConnections = 10_000
    /// A stream connection with no message for this long is closed; longer than any
    /// registration refresh, so that clients behind NAT keep their connection.
    public static let idleTimeout = TimeAmount.hours(2)


    /// Answers every request.
    public let registrar: SIPRegistrar
    private let group: any EventLoopGroup
    private let logger: Logger
    private let channels = Mutex<[any Channel]>([])
    private let ticker = Mutex<Task<Void, Never>?>(nil)

    /// A server for `store`'s SIP settings, not yet listening; reads back saved bindings.
    /// `throttle` limits password guessing, shared with the node's other listeners.
    public init(
        store: StateStore, group: any EventLoopGroup, logger: Logger, throttle: SharedLoginThrottle = SharedLoginThrottle()
    ) throws(SIPEdgeError) {
        self.registrar = try SIPRegistrar(store: store, logger: logger, throttle: throttle)
        self.group = group
        self.logger = logger
    }

    /// Binds every listener of `settings` and starts the failover clock.
    public func start(_ settings: SIPSettings) async throws(SIPEdgeError) {
        var tlsContext: NIOSSLContext?
        if settings.listeners.contains(where: { $0.listen.transport == .tls }), let certificate = settings.certificates.first {
            do {
                var configuration = TLSConfiguration.makeServerConfiguration(
                    certificateChain: try NIOSSLCertificate.fromPEMFile(certificate.certificateFile).map { .certificate($0) },
                    privateKey: .privateKey(try NIOSSLPrivateKey(file: certificate.keyFile, format: .pem)))
                configuration.minimumTLSVersion = .tlsv12
                tlsContext = try NIOSSLContext(configuration: configuration)
            } catch {
                throw SIPEdgeError(
                    description:
                        "the SIP certificate \(certificate.certificateFile) or key \(certificate.keyFile) cannot be used (\(error)); check sip.certificates"
                )
            }
        }
        var bound: [any Channel] = []
        for (listen, pool) in settings.listeners {
            do {
                switch listen.transport {
                case .udp:
                    // One socket per event loop on the same address: the kernel spreads clients over them.
                    for _ in 0..<max(1, System.coreCount) { bound.append(try await bindUDP(listen.endpoint, pool: pool)) }
                case .tcp:
                    bound.append(try await bindStream(listen.endpoint, pool: pool, tls: nil, message: settings.messageTimeout))
                case .tls:
                    bound.append(
                        try await bindStream(
                            listen.endpoint, pool: pool, tls: tlsContext, handshake: settings.handshakeTimeout,
                            message: settings.messageTimeout))
                }
                logger.info("sip listening", metadata: ["listen": "\(listen)", "registrar-of": "\(pool ?? "director")"])
            } catch {
                for channel in bound { try? await channel.close() }
                throw SIPEdgeError(
                    description: "SIP cannot listen on \(listen): \(describeNetworkError(error)); free the port, or change sip listen addresses")
            }
        }
        channels.withLock { $0 = bound }
        let registrar = registrar
        let task = Task {
            while !Task.isCancelled {
                registrar.tick()
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
        ticker.withLock { $0 = task }
    }

    /// Stops listening and closes the registrations file.
    public func stop() async {
        ticker.withLock { $0?.cancel() }
        for channel in channels.withLock({ $0 }) { try? await channel.close() }
        channels.withLock { $0 = [] }
        registrar.close()
    }

    private func bindUDP(_ endpoint: Endpoint, pool: String?) async throws -> any Channel {
        try await DatagramBootstrap(group: group)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelOption(ChannelOptions.socket(SocketOptionLevel(SOL_SOCKET), SocketOptionName(SO_REUSEPORT)), value: 1)
            .channelOption(.datagramVectorReadMessageCount, value: 16)
            .channelOption(.maxMessagesPerRead, value: 1)
            // Room for bursts of registrations (the kernel caps it at net.core.rmem_max).
            .channelOption(.socketOption(.so_rcvbuf), value: 4 << 20)
            .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: 16 * 8192))
            .channelInitializer { [registrar] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(SIPDatagramHandler(registrar: registrar, pool: pool))
                }
            }
            .bind(to: SocketAddress(endpoint)).get()
    }

    private func bindStream(
        _ endpoint: Endpoint, pool: String?, tls: NIOSSLContext?, handshake: Duration = .zero, message: Duration
    ) async throws -> any Channel {
        let listener = "sip-\(tls == nil ? "tcp" : "tls") \(endpoint)"
        let open = ConnectionLimit(
            limit: Self.maxConnections, metric: "ballast_sip_connections_active",
            dimensions: [("listen", "\(tls == nil ? "tcp" : "tls")://\(endpoint)")])
        return try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 1024)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { [registrar, logger] channel in
                channel.eventLoop.makeCompletedFuture {
                    guard open.enter() else {
                        BadInputLog.shared.report(
                            listener: listener, reason: "connection refused: listener full",
                            client: channel.remoteAddress?.ipAddress ?? "-", logger: logger, detail: "limit \(Self.maxConnections)")
                        channel.close(promise: nil)
                        return
                    }
                    channel.closeFuture.whenComplete { _ in open.leave() }
                    let sync = channel.pipeline.syncOperations
                    if let tls {
                        try sync.addHandler(NIOSSLServerHandler(context: tls))
                        try sync.addHandler(
                            ConnectionDeadline(
                                timeout: TimeAmount(handshake), milestone: .tlsHandshake, listener: "sip-tls \(endpoint)",
                                reason: "TLS handshake not done within sip.handshake-timeout", logger: logger))
                    }
                    try sync.addHandler(IdleStateHandler(readTimeout: Self.idleTimeout))
                    try sync.addHandler(
                        ByteToMessageHandler(
                            SIPStreamDecoder(
                                deadline: PartialMessageDeadline(timeout: TimeAmount(message), listener: listener, logger: logger))))
                    try sync.addHandler(
                        SIPStreamHandler(registrar: registrar, pool: pool, transport: tls == nil ? .tcp : .tls))
                }
            }
            .bind(to: SocketAddress(endpoint)).get()
    }
}

/// Answers held back for a delay, across the process: bounded, so that delaying failed logins
/// cannot be turned into a way to hold memory.
final class DelayedAnswers: Sendable {
    static let shared = DelayedAnswers()
    /// Most answers held at once.
    static let limit = 10_000
    private let count = Atomic<Int>(0)

    func enter() -> Bool {
        if count.add(1, ordering: .relaxed).newValue > Self.limit {
            count.subtract(1, ordering: .relaxed)
            return false
        }
        return true
    }

    func leave() { count.subtract(1, ordering: .relaxed) }
}

/// Requests over UDP: one datagram in, at most one out, sent back to the datagram's source
/// (what rport asks for, and what works behind NAT).
final class SIPDatagramHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    private let registrar: SIPRegistrar
    private let pool: String?

    init(registrar: SIPRegistrar, pool: String?) {
        self.registrar = registrar
        self.pool = pool
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        let bytes = Array(envelope.data.readableBytesView)
        let source = SIPSource(
            host: envelope.remoteAddress.ipAddress ?? "0.0.0.0", port: envelope.remoteAddress.port ?? 0, transport: .udp)
        if SIPMessageParser.isKeepAlive(bytes[...]) { return }
        let message: SIPMessage
        do {
            message = try SIPMessageParser.parse(datagram: bytes)
        } catch {
            registrar.reportMalformed(error, from: source)
            return
        }
        guard let answer = registrar.answer(to: message, from: source, servedPool: pool) else { return }
        let buffer = context.channel.allocator.buffer(bytes: SIPMessageWriter.encode(answer.message))
        let reply = AddressedEnvelope(remoteAddress: envelope.remoteAddress, data: buffer)
        guard answer.delay > .zero else {
            context.write(wrapOutboundOut(reply), promise: nil)
            return
        }
        // A failed login answered later; past the bound on answers held back, dropped (the
        // client retransmits over UDP), so that a flood of guesses holds no more than that.
        guard DelayedAnswers.shared.enter() else { return }
        let channel = context.channel
        context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(answer.delay)) {
            DelayedAnswers.shared.leave()
            channel.writeAndFlush(reply, promise: nil)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) { context.flush() }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A datagram socket outlives one bad peer (an ICMP unreachable, say).
    }
}

/// Splits a TCP or TLS stream into SIP messages by Content-Length (RFC 3261 18.3); a
/// stream that cannot be framed is answered 400 and closed.
struct SIPStreamDecoder: ByteToMessageDecoder {
    typealias InboundOut = Result<SIPMessage, SIPParseError>

    /// Closes the connection when a message takes too long to arrive.
    let deadline: PartialMessageDeadline?

    init(deadline: PartialMessageDeadline? = nil) { self.deadline = deadline }

    /// The first message must come within the deadline too: a connection that says nothing is
    /// not held for the idle timeout meant for phones between registrations.
    mutating func decoderAdded(context: ChannelHandlerContext) {
        deadline?.update(partial: true, context: context)
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        let view = buffer.readableBytesView
        // Blank lines between messages (keep-alives, RFC 5626) are no message under way; the
        // first other byte ends the scan.
        var partial: Bool { !view.allSatisfy { $0 == 13 || $0 == 10 } }
        // Copy out only once a head can be whole: a message trickling in is not copied per segment.
        guard Self.containsEmptyLine(view) || view.count > SIPMessageParser.maxHeadSize else {
            deadline?.update(partial: partial, context: context)
            return .needMoreData
        }
        let bytes = Array(view)
        do {
            guard let length = try SIPMessageParser.frameLength(bytes[...]) else {
                deadline?.update(partial: partial, context: context)
                return .needMoreData
            }
            let frame = bytes[..<length]
            buffer.moveReaderIndex(forwardBy: length)
            deadline?.update(partial: false, context: context)
            context.fireChannelRead(NIOAny(Result<SIPMessage, SIPParseError> { () throws(SIPParseError) in
                try SIPMessageParser.parse(frame: frame)
            }))
            return .continue
        } catch {
            buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
            context.fireChannelRead(NIOAny(Result<SIPMessage, SIPParseError>.failure(error)))
            return .needMoreData
        }
    }

    /// Whether an LF is followed by LF or CR LF somewhere: the end of a head (or blank keep-alive lines).
    static func containsEmptyLine(_ view: ByteBufferView) -> Bool {
        var index = view.startIndex
        while index < view.endIndex {
            if view[index] == 10 {
                let next = view.index(after: index)
                if next < view.endIndex, view[next] == 10 { return true }
                if next < view.endIndex, view[next] == 13, view.index(after: next) < view.endIndex,
                    view[view.index(after: next)] == 10
                {
                    return true
                }
            }
            index = view.index(after: index)
        }
        return false
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws
        -> DecodingState
    {
        .needMoreData
    }
}

/// Requests over TCP or TLS, several per connection, answered in order.
final class SIPStreamHandler: ChannelInboundHandler {
    typealias InboundIn = Result<SIPMessage, SIPParseError>
    typealias OutboundOut = ByteBuffer

    private let registrar: SIPRegistrar
    private let pool: String?
    private let transport: SIPSettings.Transport
    private var closing = false

    init(registrar: SIPRegistrar, pool: String?, transport: SIPSettings.Transport) {
        self.registrar = registrar
        self.pool = pool
        self.transport = transport
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        let remote = context.channel.remoteAddress
        let source = SIPSource(host: remote?.ipAddress ?? "0.0.0.0", port: remote?.port ?? 0, transport: transport)
        switch unwrapInboundIn(data) {
        case .failure(let error):
            registrar.reportMalformed(error, from: source)
            closing = true
            let reply = "SIP/2.0 400 Bad Request\r\nServer: Ballast\r\nContent-Length: 0\r\n\r\n"
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(channel.allocator.buffer(string: reply))).whenComplete { _ in
                channel.close(promise: nil)
            }
        case .success(let message):
            guard let answer = registrar.answer(to: message, from: source, servedPool: pool) else { return }
            let reply = context.channel.allocator.buffer(bytes: SIPMessageWriter.encode(answer.message))
            guard answer.delay > .zero else {
                context.write(wrapOutboundOut(reply), promise: nil)
                return
            }
            guard DelayedAnswers.shared.enter() else {
                context.close(promise: nil)
                return
            }
            let channel = context.channel
            context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(answer.delay)) {
                DelayedAnswers.shared.leave()
                channel.writeAndFlush(reply, promise: nil)
            }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) { context.flush() }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent { context.close(promise: nil) }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
}
