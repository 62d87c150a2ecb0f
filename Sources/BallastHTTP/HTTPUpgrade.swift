import BallastNIO
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
        context.eventLoop.assumeIsolated().execute {
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
