import NIOCore

/// Bounds the time a client takes to send a whole request head (HAProxy `timeout
/// http-request`), counted from the head's first byte: a connection that says nothing is the
/// idle timeout's business. Sits below the HTTP codec and answers 408 in raw bytes.
final class RequestHeadTimer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    static let name = "ballast-request-head-timer"
    private static let response =
        "HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 20\r\nConnection: close\r\n\r\n408 Request Timeout\n"

    private let timeout: TimeAmount
    private var context: ChannelHandlerContext?
    private var waiting = true
    /// When the first byte of the awaited head came.
    private var startedAt: NIODeadline?
    private var timer: Scheduled<Void>?

    init(timeout: Duration) { self.timeout = TimeAmount(timeout) }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) { timer?.cancel() }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if waiting && startedAt == nil {
            let now = NIODeadline.now()
            startedAt = now
            if timer == nil { arm(now + timeout, on: context.eventLoop) }
        }
        context.fireChannelRead(data)
    }

    /// One timer per connection, moved lazily: heads nearly always come long before it fires.
    private func arm(_ deadline: NIODeadline, on eventLoop: any EventLoop) {
        timer = eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [weak self] in
            guard let self else { return }
            self.timer = nil
            guard self.waiting, let started = self.startedAt else { return }
            let due = started + self.timeout
            if due <= .now() {
                self.expired()
            } else {
                self.arm(due, on: eventLoop)
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        context.fireChannelInactive()
    }

    /// A whole head was decoded: the clock stops until the response is over.
    func headArrived() {
        waiting = false
        startedAt = nil
    }

    /// The response is over: the next head's first byte starts the clock again.
    func awaitHead() { waiting = true }

    private func expired() {
        guard waiting, let context else { return }
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: Self.response)))
            .assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }
}
