import NIOCore

/// The thin handler on each of a relayed connection's two channels: it hands every event
/// to the session that owns both.
final class RelaySideHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let session: RelaySession
    private let side: RelaySession.Side

    init(session: RelaySession, side: RelaySession.Side) {
        self.session = session
        self.side = side
    }

    func handlerAdded(context: ChannelHandlerContext) {
        session.handlerAdded(side, context: context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        session.handlerRemoved(side, context: context)
    }

    func channelActive(context: ChannelHandlerContext) {
        guard session.isCurrent(side, context) else { return }
        session.channelActive(side, context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        guard session.isCurrent(side, context) else { return }
        session.channelInactive(side)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard session.isCurrent(side, context) else { return }
        session.channelRead(side, data: data, buffer: unwrapInboundIn(data))
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        guard session.isCurrent(side, context) else { return }
        session.channelReadComplete(side)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        guard session.isCurrent(side, context) else { return }
        session.writabilityChanged(side)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event, session.isCurrent(side, context) {
            session.inputClosed(side)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        session.errorCaught(side, error: error)
    }

    func read(context: ChannelHandlerContext) {
        guard session.isCurrent(side, context) else {
            context.read()
            return
        }
        session.read(side, context: context)
    }
}
