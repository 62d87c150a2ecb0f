import BallastReporting
import Logging
import NIOCore

/// Bounds how long a client connection may go without a whole request head.
///
/// - The first head must be whole within `timeouts.request` of the connection's start (HAProxy
///   `timeout http-request`, nginx `client_header_timeout`).
/// - After a response, the next head must begin within `timeouts.keep-alive` (HAProxy `timeout
///   http-keep-alive`, nginx `keepalive_timeout`) and be whole within `timeouts.request` of its
///   first byte.
///
/// A head that is late gets 408 in raw bytes (the handler sits below the HTTP codec); a connection
/// that sent nothing, or nothing since its last response, is closed without an answer, as HAProxy
/// does for browsers' pre-connects and idle keep-alive connections.
final class RequestHeadTimer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    static let name = "ballast-request-head-timer"
    private static let response =
        "HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 20\r\nConnection: close\r\n\r\n408 Request Timeout\n"

    /// What the connection waits for now.
    private enum Phase {
        /// The first head of the connection; `spoke` once a byte of it came.
        case firstHead(spoke: Bool)
        /// A later head, before its first byte (the keep-alive wait).
        case nextHead
        /// A later head whose first byte came.
        case partialHead
        /// A head was whole: the clock is stopped until the response is over.
        case exchange
    }

    private let requestTimeout: TimeAmount
    private let keepAliveTimeout: TimeAmount
    private let listener: String
    private let logger: Logger
    private var context: ChannelHandlerContext?
    private var phase = Phase.firstHead(spoke: false)
    /// When the current wait ends; the one timer is moved lazily to it.
    private var deadline: NIODeadline?
    private var timer: Scheduled<Void>?

    init(request: Duration, keepAlive: Duration, listener: String, logger: Logger) {
        self.requestTimeout = TimeAmount(request)
        self.keepAliveTimeout = TimeAmount(keepAlive)
        self.listener = listener
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { wait(requestTimeout, on: context.eventLoop) }
    }

    func channelActive(context: ChannelHandlerContext) {
        if deadline == nil { wait(requestTimeout, on: context.eventLoop) }
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        // The context holds this handler: keeping it past removal would keep both alive for ever.
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch phase {
        case .firstHead(spoke: false): phase = .firstHead(spoke: true)
        case .nextHead:
            phase = .partialHead
            wait(requestTimeout, on: context.eventLoop)
        case .firstHead, .partialHead, .exchange: break
        }
        context.fireChannelRead(data)
    }

    /// A whole head was decoded: the clock stops until the response is over.
    func headArrived() {
        phase = .exchange
        deadline = nil
    }

    /// The response is over: the next head must begin within the keep-alive timeout.
    func awaitHead() {
        guard case .exchange = phase, let context else { return }
        phase = .nextHead
        wait(keepAliveTimeout, on: context.eventLoop)
    }

    private func wait(_ timeout: TimeAmount, on eventLoop: any EventLoop) {
        let due = NIODeadline.now() + timeout
        deadline = due
        if timer == nil { arm(due, on: eventLoop) }
    }

    /// One timer per connection, moved lazily: heads nearly always come long before it fires.
    private func arm(_ due: NIODeadline, on eventLoop: any EventLoop) {
        timer = eventLoop.assumeIsolated().scheduleTask(deadline: due) { [weak self] in
            guard let self else { return }
            self.timer = nil
            guard let deadline = self.deadline else { return }
            if deadline <= .now() {
                self.expired()
            } else {
                self.arm(deadline, on: eventLoop)
            }
        }
    }

    private func expired() {
        guard let context else { return }
        let client = context.channel.remoteAddress?.ipAddress ?? "-"
        switch phase {
        case .exchange:
            return
        case .nextHead:
            // An idle keep-alive connection: closed quietly, as every server does.
            context.close(promise: nil)
        case .firstHead(spoke: false):
            BadInputLog.shared.report(listener: listener, reason: "no request within timeouts.request", client: client, logger: logger)
            context.close(promise: nil)
        case .firstHead(spoke: true), .partialHead:
            BadInputLog.shared.report(
                listener: listener, reason: "request head not whole within timeouts.request", client: client, logger: logger)
            context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: Self.response)))
                .assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }
}
