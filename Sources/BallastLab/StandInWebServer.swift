public import NIOCore
import NIOHTTP1
import NIOPosix

/// A small HTTP server that answers every request with `hello from NAME` and an `X-Served-By`
/// header: the web servers of the demo lab and of `ballast sample-server`.
public final class StandInWebServer: Sendable {
    /// The listening channel.
    public let channel: any Channel

    private init(channel: any Channel) { self.channel = channel }

    /// Starts a server named `name` on `host:port`.
    public static func start(
        host: String, port: Int, name: String, group: any EventLoopGroup
    ) async throws -> StandInWebServer {
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(SampleResponder(name: name))
                }
            }
            .bind(host: host, port: port).get()
        return StandInWebServer(channel: channel)
    }

    /// Stops listening.
    public func stop() async { try? await channel.close() }
}

/// Answers `hello from NAME` to every request, keeping the connection alive when asked.
final class SampleResponder: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let name: String
    private var keepAlive = true

    init(name: String) {
        self.name = name
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            keepAlive = head.isKeepAlive
        case .body:
            break
        case .end:
            let body = ByteBuffer(string: "hello from \(name)\n")
            var head = HTTPResponseHead(version: .http1_1, status: .ok)
            head.headers.add(name: "Content-Type", value: "text/plain")
            head.headers.add(name: "Content-Length", value: "\(body.readableBytes)")
            head.headers.add(name: "X-Served-By", value: name)
            if !keepAlive { head.headers.add(name: "Connection", value: "close") }
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            let keepAlive = self.keepAlive
            context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
                if !keepAlive { context.close(promise: nil) }
            }
        }
    }
}
