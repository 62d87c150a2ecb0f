import BallastCodecs
public import BallastCore
public import BallastEngine
import BallastNIO
public import BallastSIPRegistrar
import BallastReporting
public import Logging
public import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The SIP listeners of a node: UDP (on the engine), TCP and TLS on each registrar's and the
/// director's addresses, all answering through one `SIPRegistrar`, with the bindings journal
/// written behind them.
public final class SIPServer: Sendable {
    /// The most TCP and TLS connections open at once per listener.
    public static let maxConnections = 10_000
    /// A stream connection with no message for this long is closed; longer than any
    /// registration refresh, so that clients behind NAT keep their connection.
    public static let idleTimeout = TimeAmount.hours(2)


    /// Answers every request.
    public let registrar: SIPRegistrar
    /// The registrations file, when the config names one.
    private let journal: RegistrationJournal?
    private let group: any EventLoopGroup
    private let engine: Engine
    private let logger: Logger
    private let channels = Mutex<[any Channel]>([])
    private let udpServices = Mutex<[SIPUDPService]>([])
    private let ticker = Mutex<Task<Void, Never>?>(nil)

    /// A server for `store`'s SIP settings, not yet listening; reads back saved bindings.
    /// UDP runs on `engine`'s loops, TCP and TLS on `group`. `throttle` limits password
    /// guessing, shared with the node's other listeners.
    public init(
        store: StateStore, group: any EventLoopGroup, engine: Engine, logger: Logger,
        throttle: SharedLoginThrottle = SharedLoginThrottle()
    ) throws(SIPEdgeError) {
        var restored: [String: Registrations] = [:]
        if let path = store.current.topology.sip?.registrationsFile {
            let now = RegistrarTime.now.wall
            (journal, restored) = try RegistrationJournal.open(path: path, now: now)
            logger.info(
                "sip registrations restored",
                metadata: ["file": "\(path)", "bindings": "\(restored.values.reduce(0) { $0 + $1.count(at: now) })"])
        } else {
            journal = nil
        }
        self.registrar = SIPRegistrar(store: store, logger: logger, restored: restored, throttle: throttle)
        self.group = group
        self.engine = engine
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
        var services: [SIPUDPService] = []
        for (listen, pool) in settings.listeners {
            do {
                switch listen.transport {
                case .udp:
                    // One socket, read by every engine loop.
                    services.append(
                        try SIPUDPService(
                            registrar: registrar, journal: journal, endpoint: listen.endpoint, pool: pool, logger: logger))
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
                for service in services { service.stop() }
                throw SIPEdgeError(
                    description: "SIP cannot listen on \(listen): \(describeNetworkError(error)); free the port, or change sip listen addresses")
            }
        }
        channels.withLock { $0 = bound }
        let reading = services
        udpServices.withLock { $0 = reading }
        await engine.onEveryLoop { context in
            for service in reading { context.addDatagramService(service) }
        }
        let registrar = registrar
        let journal = journal
        let task = Task {
            while !Task.isCancelled {
                let lapsed = registrar.tick(now: .now)
                if !lapsed.isEmpty { journal?.submit(lapsed) }
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
        ticker.withLock { $0 = task }
    }

    /// Stops listening, writes the bindings still queued and closes the registrations file.
    public func stop() async {
        ticker.withLock { $0?.cancel() }
        for channel in channels.withLock({ $0 }) { try? await channel.close() }
        channels.withLock { $0 = [] }
        let services = udpServices.withLock { services in
            defer { services = [] }
            return services
        }
        await engine.onEveryLoop { context in
            for service in services { context.removeDatagramService(service) }
        }
        for service in services { service.stop() }
        journal?.close()
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
            .childChannelInitializer { [registrar, journal, logger] channel in
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
                        SIPStreamHandler(registrar: registrar, journal: journal, pool: pool, transport: tls == nil ? .tcp : .tls))
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

/// Requests over TCP or TLS, several per connection, answered in order: an answer waiting
/// for the registrations file holds back the ones after it.
final class SIPStreamHandler: ChannelInboundHandler {
    typealias InboundIn = Result<SIPMessage, SIPParseError>
    typealias OutboundOut = ByteBuffer

    private let registrar: SIPRegistrar
    private let journal: RegistrationJournal?
    private let pool: String?
    private let transport: SIPSettings.Transport
    private var closing = false
    /// Done once every answer held back so far has been written; nil when none is.
    private var heldBack: EventLoopFuture<Void>?

    init(registrar: SIPRegistrar, journal: RegistrationJournal?, pool: String?, transport: SIPSettings.Transport) {
        self.registrar = registrar
        self.journal = journal
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
            guard let answer = registrar.answer(to: message, from: source, servedPool: pool, now: .now) else { return }
            let channel = context.channel
            if let journal, !answer.changes.isEmpty {
                let saved = context.eventLoop.makePromise(of: SIPMessage.self)
                journal.submit(answer.changes) { [registrar] written in
                    saved.succeed(written ? answer.message : registrar.bindingsNotSaved(message, from: source))
                }
                send(saved.futureResult, context: context)
                return
            }
            let reply = channel.allocator.buffer(bytes: SIPMessageWriter.encode(answer.message))
            guard answer.delay > .zero else {
                if heldBack == nil {
                    context.write(wrapOutboundOut(reply), promise: nil)
                } else {
                    send(context.eventLoop.makeSucceededFuture(answer.message), context: context)
                }
                return
            }
            guard DelayedAnswers.shared.enter() else {
                context.close(promise: nil)
                return
            }
            context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(answer.delay)) {
                DelayedAnswers.shared.leave()
                channel.writeAndFlush(reply, promise: nil)
            }
        }
    }

    /// Writes `response` once it is ready and every answer held back before it is written.
    private func send(_ response: EventLoopFuture<SIPMessage>, context: ChannelHandlerContext) {
        let channel = context.channel
        let previous = heldBack ?? context.eventLoop.makeSucceededVoidFuture()
        let written = previous.and(response).map { _, message in
            channel.writeAndFlush(channel.allocator.buffer(bytes: SIPMessageWriter.encode(message)), promise: nil)
        }
        heldBack = written
        written.assumeIsolated().whenComplete { [self] _ in
            if heldBack === written { heldBack = nil }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) { context.flush() }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent { context.close(promise: nil) }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
}
