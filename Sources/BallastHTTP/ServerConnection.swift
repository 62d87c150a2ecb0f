import BallastCore
import BallastNIO
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// One keep-alive HTTP/1.1 connection from Ballast to a server. Lives on one event loop,
/// serves one client request at a time, and goes back to its loop's pool between them.
final class ServerConnection {
    let channel: any Channel
    let endpoint: Endpoint
    let handler: ServerConnectionHandler
    /// Whether it already served a request; a failure on a reused connection is retried.
    var reused = false
    var idleTimer: Scheduled<Void>?

    init(channel: any Channel, endpoint: Endpoint, handler: ServerConnectionHandler) {
        self.channel = channel
        self.endpoint = endpoint
        self.handler = handler
    }

    /// Opens a connection to `endpoint` on `eventLoop`, with TLS when `tls` is given.
    static func connect(
        to endpoint: Endpoint, on eventLoop: any EventLoop, tls: NIOSSLContext?, serverName: String?,
        timeout: Duration
    ) -> EventLoopFuture<ServerConnection> {
        ClientBootstrap(group: eventLoop)
            .connectTimeout(TimeAmount(timeout))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if let tls {
                        try sync.addHandler(try NIOSSLClientHandler(context: tls, serverHostname: serverName))
                    }
                    try sync.addHandler(HTTPRequestEncoder(), name: ServerConnectionHandler.encoderName)
                    try sync.addHandler(
                        ByteToMessageHandler(HTTPResponseDecoder(leftOverBytesStrategy: .forwardBytes)),
                        name: ServerConnectionHandler.decoderName)
                    try sync.addHandler(ServerConnectionHandler(), name: ServerConnectionHandler.name)
                }
            }
            .connect(to: SocketAddress(endpoint))
            .flatMapThrowing { channel in
                let handler = try channel.pipeline.syncOperations.handler(type: ServerConnectionHandler.self)
                return ServerConnection(channel: channel, endpoint: endpoint, handler: handler)
            }
    }
}

/// What a server connection tells the request it serves.
protocol ServerConnectionOwner: AnyObject {
    func serverRead(_ part: HTTPClientResponsePart)
    func serverReadComplete()
    func serverClosed(error: (any Error)?)
    func serverWritabilityChanged(isWritable: Bool)
    /// Whether the client can take more bytes now.
    var clientIsWritable: Bool { get }
}

/// The last handler of a server connection: hands responses to its owner, and holds reads
/// while the owner's client cannot take more bytes.
final class ServerConnectionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = HTTPClientRequestPart

    static let name = "ballast-server-connection"
    static let encoderName = "ballast-request-encoder"
    static let decoderName = "ballast-response-decoder"

    weak var owner: (any ServerConnectionOwner)?
    /// Called once when the connection closes, whoever owns it (the pool removes it).
    var onClose: (() -> Void)?
    private var context: ChannelHandlerContext?
    private var pendingRead = false
    private var closed = false

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    /// The context holds this handler: keeping it past removal would keep both alive for ever.
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if let owner {
            owner.serverRead(part)
        } else {
            // Bytes on an idle keep-alive connection: the server broke the protocol or closes.
            context.close(promise: nil)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) { owner?.serverReadComplete() }

    func channelInactive(context: ChannelHandlerContext) { finish(error: nil) }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(error: error)
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        owner?.serverWritabilityChanged(isWritable: context.channel.isWritable)
    }

    func read(context: ChannelHandlerContext) {
        if let owner, !owner.clientIsWritable {
            pendingRead = true
        } else {
            context.read()
        }
    }

    /// Reads again once the owner's client can take bytes, or when the connection has no owner (an
    /// idle pooled connection must read, to see its server close it).
    func resumeReading() {
        guard pendingRead, let context else { return }
        if let owner, !owner.clientIsWritable { return }
        pendingRead = false
        context.read()
    }

    private func finish(error: (any Error)?) {
        guard !closed else { return }
        closed = true
        onClose?()
        onClose = nil
        let owner = self.owner
        self.owner = nil
        owner?.serverClosed(error: error)
    }
}
