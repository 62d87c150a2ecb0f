import BallastReporting
import Logging
import NIOCore

/// Bounds the time a client takes to send a whole request head (HAProxy `timeout
/// http-request`, nginx `client_header_timeout`): the first head's from the connection's start,
/// later heads' from their first byte (between requests the idle timeout rules). Sits below the
/// HTTP codec and answers 408 in raw bytes; a connection that never sent a byte is closed
/// without an answer, as HAProxy does for browsers' pre-connects.
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

    /// Whether any byte came on this connection.
    private var spoke = false
    private let listener: String
    private let logger: Logger

    init(timeout: Duration, listener: String, logger: Logger) {
        self.timeout = TimeAmount(timeout)
        self.listener = listener
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { startFirstHead(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        startFirstHead(context)
        context.fireChannelActive()
    }

    private func startFirstHead(_ context: ChannelHandlerContext) {
        guard startedAt == nil, timer == nil else { return }
        let now = NIODeadline.now()
        startedAt = now
        arm(now + timeout, on: context.eventLoop)
    }

    func handlerRemoved(context: ChannelHandlerContext) { timer?.cancel() }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        spoke = true
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
        BadInputLog.shared.report(
            listener: listener, reason: spoke ? "request head not whole within timeouts.request" : "no request within timeouts.request",
            client: context.channel.remoteAddress?.ipAddress ?? "-", logger: logger)
        guard spoke else {
            context.close(promise: nil)
            return
        }
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: Self.response)))
            .assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }
}
