public import NIOCore
public import NIOHTTP1
public import NIOPosix
public import NIOSSL
import Synchronization

/// A real HTTP/1.1 server on 127.0.0.1 for tests of the HTTP relay; it says who it is.
///
/// - any path: `200` with body `NAME` and header `X-Server: NAME`;
/// - `/download/N`: N bytes of `TestBackend.pattern`, written as the client takes them;
/// - `POST /upload`: reads the body as it comes and answers `NAME BYTES`;
/// - `/chunked`: `chunked NAME` in two chunks, with no length;
/// - `/hang`: never answers; `/close`: closes without answering;
/// - `POST /early`: answers `413` at the head, without reading the body (nginx over its body limit);
/// - `/ws` with `Upgrade`: answers 101 and echoes bytes from then on.
public final class TestHTTPBackend: Sendable {
    public let name: String
    public let port: Int
    private let channel: any Channel
    private let seen = Mutex<[HTTPRequestHead]>([])
    private let connections = Mutex(0)
    private let children = Mutex<[ObjectIdentifier: any Channel]>([:])

    /// Request heads received, oldest first.
    public var requests: [HTTPRequestHead] { seen.withLock { $0 } }
    /// Connections accepted so far.
    public var acceptedConnections: Int { connections.withLock { $0 } }

    private init(name: String, port: Int, channel: any Channel) {
        self.name = name
        self.port = port
        self.channel = channel
    }

    /// Starts a server, with TLS when `tls` is given.
    public static func start(
        name: String, host: String = "127.0.0.1", port: Int = 0, tls: NIOSSLContext? = nil,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> TestHTTPBackend {
        let box = Mutex<TestHTTPBackend?>(nil)
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard let backend = box.withLock({ $0 }) else { throw ChannelError.ioOnClosedChannel }
                    backend.connections.withLock { $0 += 1 }
                    let id = ObjectIdentifier(channel)
                    backend.children.withLock { $0[id] = channel }
                    channel.closeFuture.whenComplete { _ in _ = backend.children.withLock { $0.removeValue(forKey: id) }
                    }
                    if let tls { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
                    try channel.pipeline.syncOperations.addHandler(HTTPResponseEncoder(), name: "encoder")
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .forwardBytes)), name: "decoder")
                    try channel.pipeline.syncOperations.addHandler(TestHTTPHandler(backend: backend))
                }
            }
            .bind(host: host, port: port).get()
        let backend = TestHTTPBackend(name: name, port: channel.localAddress!.port!, channel: channel)
        box.withLock { $0 = backend }
        return backend
    }

    func record(_ head: HTTPRequestHead) { seen.withLock { $0.append(head) } }

    /// Stops listening and closes open connections, as a server that dies.
    public func stop() async {
        try? await channel.close()
        for child in children.withLock({ Array($0.values) }) { try? await child.close() }
    }
}

final class TestHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let backend: TestHTTPBackend
    private var head: HTTPRequestHead?
    private var received = 0
    private var remaining = 0
    private var sent = 0
    private var echoing = false

    init(backend: TestHTTPBackend) { self.backend = backend }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            backend.record(head)
            self.head = head
            received = 0
            if head.uri == "/early" {
                // Answered at once, without reading the body; then closed, as nginx does.
                let headers = HTTPHeaders([
                    ("X-Server", backend.name), ("Content-Length", "9"), ("Connection", "close"),
                ])
                context.write(
                    wrapOutboundOut(
                        .head(HTTPResponseHead(version: .http1_1, status: .payloadTooLarge, headers: headers))),
                    promise: nil)
                context.write(
                    wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: "too big\r\n")))),
                    promise: nil)
                context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
                self.head = nil
            }
        case .body(let buffer):
            received += buffer.readableBytes
        case .end:
            guard let head else { return }
            respond(to: head, context: context)
        }
    }

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        var headers = HTTPHeaders([("X-Server", backend.name)])
        if head.uri == "/hang" { return }
        if head.uri == "/close" {
            context.close(promise: nil)
            return
        }
        if head.uri == "/ws", head.headers.contains(name: "upgrade") {
            headers.add(name: "Upgrade", value: head.headers.first(name: "upgrade") ?? "websocket")
            headers.add(name: "Connection", value: "Upgrade")
            context.writeAndFlush(
                wrapOutboundOut(
                    .head(HTTPResponseHead(version: .http1_1, status: .switchingProtocols, headers: headers))),
                promise: nil)
            // Once the decoder's read is over, so that it can leave the pipeline.
            context.eventLoop.assumeIsolated().execute {
                let pipeline = context.pipeline.syncOperations
                _ = pipeline.removeHandler(name: "encoder")
                try? pipeline.addHandler(EchoHandler())
                _ = pipeline.removeHandler(context: context)
                _ = pipeline.removeHandler(name: "decoder")
            }
            return
        }
        if head.uri.hasPrefix("/download/"), let count = Int(head.uri.dropFirst("/download/".count)) {
            headers.add(name: "Content-Length", value: "\(count)")
            context.write(
                wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil
            )
            remaining = count
            sent = 0
            pump(context: context)
            return
        }
        if head.uri == "/chunked" {
            context.write(
                wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil
            )
            for part in ["chunked ", backend.name] {
                context.write(
                    wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: part)))), promise: nil)
            }
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            return
        }
        let body = head.uri == "/upload" ? "\(backend.name) \(received)" : backend.name
        headers.add(name: "Content-Length", value: "\(body.utf8.count)")
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
        if head.method != .HEAD {
            context.write(
                wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { pump(context: context) }
    }

    private func pump(context: ChannelHandlerContext) {
        guard remaining > 0 else { return }
        while remaining > 0 && context.channel.isWritable {
            let count = min(remaining, 64 * 1024)
            let bytes = TestBackend.pattern(from: sent, count: count)
            context.write(
                wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: bytes)))), promise: nil)
            remaining -= count
            sent += count
        }
        if remaining == 0 {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        } else {
            context.flush()
        }
    }
}

/// Echoes raw bytes after an upgrade.
final class EchoHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.writeAndFlush(data, promise: nil)
    }
}
