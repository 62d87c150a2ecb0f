import NIOCore
import NIOHTTP2

/// Sits below the HTTP/1 codec of an HTTP/2 stream, where frames are written, so that the proxy
/// can end a stream early: once a response is whole while the client is still sending its body
/// (a server that answered before reading it), RFC 9113 section 8.1 has the server send
/// RST_STREAM with NO_ERROR, and the rest of the body is discarded without holding up the
/// connection's other streams.
final class HTTP2StreamEnder: ChannelOutboundHandler {
    typealias OutboundIn = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    private var context: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    /// The context holds this handler: keeping it past removal would keep both alive for ever.
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    /// Ends the stream with RST_STREAM(NO_ERROR), after the frames already written.
    func endWithoutError() {
        context?.writeAndFlush(wrapOutboundOut(.rstStream(.noError)), promise: nil)
    }
}
