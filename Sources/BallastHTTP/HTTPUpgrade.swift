import NIOCore
import NIOHTTP1

/// Turns a client connection and a server connection into a byte relay once the server
/// accepted an Upgrade (WebSocket and the like): the 101 goes to the client, both HTTP
/// codecs leave the pipelines, and what they still held is forwarded.
enum HTTPUpgrade {
    static func splice(
        client context: ChannelHandlerContext, server: ServerConnection, response: HTTPResponseHead
    ) {
        var head = response
        head.headers.remove(name: "keep-alive")
        context.writeAndFlush(NIOAny(HTTPServerResponsePart.head(head)), promise: nil)
        let clientGlue = GlueHandler()
        let serverGlue = GlueHandler()
        GlueHandler.pair(clientGlue, serverGlue)
        server.handler.owner = nil
        // On the next turn of the loop: the server's decoder is still inside the read that
        // brought the 101, and removes itself only once that read is over.
        context.eventLoop.execute {
            let clientSync = context.pipeline.syncOperations
            let serverSync = server.channel.pipeline.syncOperations
            do {
                try serverSync.addHandler(serverGlue)
                try clientSync.addHandler(clientGlue)
                _ = serverSync.removeHandler(server.handler)
                _ = serverSync.removeHandler(name: ServerConnectionHandler.encoderName)
                // The decoders go last, handing the bytes they still hold to the glue.
                _ = serverSync.removeHandler(name: ServerConnectionHandler.decoderName)
                _ = clientSync.removeHandler(context: context)
                _ = clientSync.removeHandler(try clientSync.handler(type: HTTPResponseEncoder.self))
                if let validator = try? clientSync.handler(type: NIOHTTPResponseHeadersValidator.self) {
                    _ = clientSync.removeHandler(validator)
                }
                _ = clientSync.removeHandler(try clientSync.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self))
                _ = clientSync.removeHandler(name: RequestHeadTimer.name)
            } catch {
                context.close(promise: nil)
                server.channel.close(promise: nil)
                return
            }
            context.channel.read()
            server.channel.read()
        }
    }
}

/// One side of a byte relay between two channels on the same event loop: writes what it
/// reads to its partner, holds reads while the partner cannot write, passes half-close on.
final class GlueHandler: ChannelDuplexHandler {
    typealias InboundIn = NIOAny
    typealias OutboundIn = NIOAny
    typealias OutboundOut = NIOAny

    private var partner: GlueHandler?
    private var context: ChannelHandlerContext?
    private var pendingRead = false

    static func pair(_ a: GlueHandler, _ b: GlueHandler) {
        a.partner = b
        b.partner = a
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        partner = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) { partner?.write(data) }

    func channelReadComplete(context: ChannelHandlerContext) { partner?.flush() }

    func channelInactive(context: ChannelHandlerContext) { partner?.close() }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            partner?.closeOutput()
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { partner?.resumeRead() }
    }

    func read(context: ChannelHandlerContext) {
        if let partner, partner.isWritable {
            context.read()
        } else {
            pendingRead = true
        }
    }

    private var isWritable: Bool { context?.channel.isWritable ?? false }

    private func write(_ data: NIOAny) { context?.write(data, promise: nil) }

    private func flush() { context?.flush() }

    private func close() { context?.close(promise: nil) }

    private func closeOutput() { context?.close(mode: .output, promise: nil) }

    private func resumeRead() {
        guard pendingRead, let context else { return }
        pendingRead = false
        context.read()
    }
}
