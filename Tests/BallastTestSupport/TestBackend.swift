import Atomics
public import BallastCodecs
import BallastCore
import Foundation
public import NIOCore
public import NIOPosix
public import NIOSSL
import Synchronization

/// A real TCP server on 127.0.0.1 for tests, with a behaviour chosen per test.
public final class TestBackend: Sendable {
    /// What the server does with each connection.
    public enum Behaviour: Sendable {
        /// Writes `NAME\n`, echoes what it reads, and on the client's half-close writes
        /// `EOF\n` and half-closes too.
        case identify
        /// Reads a PROXY header first (recorded in `proxyHeaders`), then acts as `identify`.
        case captureProxyHeader
        /// Writes `bytes` bytes of a known pattern as fast as the client takes them, then closes.
        case stream(bytes: Int)
        /// Answers any request with this HTTP status and body, then closes.
        case http(status: Int, body: String)
        /// Accepts and never says or reads anything.
        case silent
        /// Writes `NAME\n` and half-closes at once, then counts what it still reads (`received`).
        case banner
    }

    public let name: String
    public let port: Int
    private let channel: any Channel
    private let state: SharedState

    final class SharedState: Sendable {
        let accepted = ManagedAtomic<Int>(0)
        let streamed = ManagedAtomic<Int>(0)
        let received = ManagedAtomic<Int>(0)
        let children = Mutex<[ObjectIdentifier: any Channel]>([:])
        let headers = Mutex<[ProxyHeader]>([])
    }

    private init(name: String, port: Int, channel: any Channel, state: SharedState) {
        self.name = name
        self.port = port
        self.channel = channel
        self.state = state
    }

    /// Starts a server; on `port` when given, else on a free one.
    public static func start(
        name: String, behaviour: Behaviour = .identify, host: String = "127.0.0.1", port: Int = 0,
        tls: NIOSSLContext? = nil, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> TestBackend {
        let state = SharedState()
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 1024)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    state.accepted.wrappingIncrement(ordering: .relaxed)
                    state.children.withLock { $0[ObjectIdentifier(channel)] = channel }
                    channel.closeFuture.whenComplete { _ in
                        _ = state.children.withLock { $0.removeValue(forKey: ObjectIdentifier(channel)) }
                    }
                    if let tls { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
                    try channel.pipeline.syncOperations.addHandler(
                        BackendHandler(name: name, behaviour: behaviour, state: state))
                }
            }
            .bind(host: host, port: port).get()
        return TestBackend(name: name, port: channel.localAddress!.port!, channel: channel, state: state)
    }

    /// Connections accepted so far.
    public var accepted: Int { state.accepted.load(ordering: .relaxed) }
    /// Connections open now.
    public var open: Int { state.children.withLock { $0.count } }
    /// Bytes a `stream` server has handed to the kernel so far.
    public var streamed: Int { state.streamed.load(ordering: .relaxed) }
    /// Bytes a `banner` server read after its half-close.
    public var received: Int { state.received.load(ordering: .relaxed) }
    /// PROXY headers received, in order.
    public var proxyHeaders: [ProxyHeader] { state.headers.withLock { $0 } }

    /// Stops listening and closes every connection: the server is dead.
    public func stop() async {
        try? await channel.close()
        for child in state.children.withLock({ Array($0.values) }) { try? await child.close() }
    }

    /// One period of a `stream` server's output. The period is prime, so that a lost,
    /// repeated or reordered chunk of any power-of-two size shows up as a mismatch.
    static let patternPeriod = 65_521
    static let patternTable: [UInt8] = (0..<patternPeriod).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) }

    /// `count` bytes of a `stream` server's output starting at `offset`.
    public static func pattern(from offset: Int, count: Int) -> [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(count)
        var position = offset % patternPeriod
        while result.count < count {
            let take = min(patternPeriod - position, count - result.count)
            result.append(contentsOf: patternTable[position..<(position + take)])
            position = 0
        }
        return result
    }

    /// Whether `bytes` is a `stream` server's output at `offset`, compared with memcmp.
    public static func matchesPattern(_ bytes: [UInt8], at offset: Int) -> Bool {
        let expected = pattern(from: offset, count: bytes.count)
        return bytes.withUnsafeBytes { a in
            expected.withUnsafeBytes { b in memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0 }
        }
    }
}

final class BackendHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let name: String
    private let behaviour: TestBackend.Behaviour
    private let state: TestBackend.SharedState
    private var pending = ByteBuffer()
    private var headerDone = false
    private var streamOffset = 0

    init(name: String, behaviour: TestBackend.Behaviour, state: TestBackend.SharedState) {
        self.name = name
        self.behaviour = behaviour
        self.state = state
    }

    func channelActive(context: ChannelHandlerContext) {
        switch behaviour {
        case .identify:
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "\(name)\n")), promise: nil)
        case .stream:
            pump(context: context)
        case .banner:
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "\(name)\n"))).assumeIsolated().whenComplete { _ in
                context.close(mode: .output, promise: nil)
            }
        default:
            break
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        switch behaviour {
        case .identify:
            context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        case .captureProxyHeader:
            if headerDone {
                context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
                return
            }
            pending.writeBuffer(&buffer)
            switch ProxyHeader.parse(pending.readableBytesView) {
            case .needMoreData:
                return
            case .invalid:
                context.close(promise: nil)
            case .header(let header, _, let consumed):
                state.headers.withLock { $0.append(header) }
                headerDone = true
                pending.moveReaderIndex(forwardBy: consumed)
                context.write(wrapOutboundOut(ByteBuffer(string: "\(name)\n")), promise: nil)
                context.writeAndFlush(wrapOutboundOut(pending), promise: nil)
            }
        case .http(let status, let body):
            pending.writeBuffer(&buffer)
            if pending.readableBytesView.firstRange(of: Array("\r\n\r\n".utf8)) != nil {
                let response =
                    "HTTP/1.1 \(status) Status\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
                context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: response))).assumeIsolated().whenComplete {
                    _ in
                    context.close(promise: nil)
                }
            }
        case .banner:
            state.received.wrappingIncrement(by: buffer.readableBytes, ordering: .relaxed)
        case .stream, .silent:
            break
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            switch behaviour {
            case .identify, .captureProxyHeader:
                context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "EOF\n"))).assumeIsolated().whenComplete { _ in
                    context.close(mode: .output, promise: nil)
                }
            default:
                context.close(promise: nil)
            }
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if case .stream = behaviour, context.channel.isWritable { pump(context: context) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    /// Writes the pattern while the channel is writable.
    private func pump(context: ChannelHandlerContext) {
        guard case .stream(let total) = behaviour else { return }
        while context.channel.isWritable && streamOffset < total {
            let size = min(64 * 1024, total - streamOffset)
            let buffer = context.channel.allocator.buffer(bytes: TestBackend.pattern(from: streamOffset, count: size))
            streamOffset += size
            let state = self.state
            context.writeAndFlush(wrapOutboundOut(buffer)).whenSuccess {
                state.streamed.wrappingIncrement(by: size, ordering: .relaxed)
            }
        }
        if streamOffset >= total {
            context.close(mode: .output, promise: nil)
        }
    }
}
