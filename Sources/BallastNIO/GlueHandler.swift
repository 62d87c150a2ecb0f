public import NIOCore

/// One side of a byte relay between two channels on the same event loop: writes what it
/// reads to its partner, holds reads while the partner cannot write, passes half-close on.
public final class GlueHandler: ChannelDuplexHandler {
    /// A handler with no partner yet.
    public init() {}

    public typealias InboundIn = NIOAny
    public typealias OutboundIn = NIOAny
    public typealias OutboundOut = NIOAny

    private var partner: GlueHandler?
    private var context: ChannelHandlerContext?
    private var pendingRead = false

    /// Makes `a` and `b` each other's partner.
    public static func pair(_ a: GlueHandler, _ b: GlueHandler) {
        a.partner = b
        b.partner = a
    }

    public func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    public func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        partner = nil
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) { partner?.write(data) }

    public func channelReadComplete(context: ChannelHandlerContext) { partner?.flush() }

    public func channelInactive(context: ChannelHandlerContext) { partner?.close() }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            partner?.closeOutput()
        }
        context.fireUserInboundEventTriggered(event)
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { partner?.resumeRead() }
    }

    public func read(context: ChannelHandlerContext) {
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
