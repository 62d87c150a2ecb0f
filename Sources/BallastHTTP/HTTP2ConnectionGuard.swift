import BallastReporting
import Logging
import NIOCore

/// Sits before the HTTP/2 handler of a client connection and bounds what it may hold: the
/// client's preface and first SETTINGS frame must arrive within `timeouts.request`, a client that
/// shuts its sending side is closed (an HTTP/2 client that half-closes is gone), and a connection
/// idle for `timeouts.idle` is closed. Without it, a client that sends part of the preface, or
/// closes before SETTINGS, leaves its socket in CLOSE-WAIT holding the HTTP/2 machinery.
final class HTTP2ConnectionGuard: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    /// The client connection preface (RFC 9113 section 3.4), then a frame header.
    static let prefaceLength = 24
    static let frameHeaderLength = 9

    private let prefaceTimeout: TimeAmount
    private let listener: String
    private let logger: Logger
    private var timer: Scheduled<Void>?
    /// Bytes still needed for the preface and the first frame; nil once they came.
    private var needed: Int? = HTTP2ConnectionGuard.prefaceLength + HTTP2ConnectionGuard.frameHeaderLength
    private var seen = 0
    private var header: [UInt8] = []

    init(prefaceTimeout: Duration, listener: String, logger: Logger) {
        self.prefaceTimeout = TimeAmount(prefaceTimeout)
        self.listener = listener
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let channel = context.channel
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: prefaceTimeout) { [self] in
            timer = nil
            guard needed != nil else { return }
            BadInputLog.shared.report(
                listener: listener, reason: "HTTP/2 preface not whole within timeouts.request",
                client: channel.remoteAddress?.ipAddress ?? "-", logger: logger)
            channel.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) { timer?.cancel() }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if needed != nil { count(unwrapInboundIn(data)) }
        context.fireChannelRead(data)
    }

    /// Follows the preface and the first frame (its length read from its header) until both are in.
    private func count(_ buffer: ByteBuffer) {
        let headerEnd = Self.prefaceLength + Self.frameHeaderLength
        for byte in buffer.readableBytesView {
            if seen >= Self.prefaceLength && seen < headerEnd { header.append(byte) }
            seen += 1
            if seen == headerEnd {
                let length = Int(header[0]) << 16 | Int(header[1]) << 8 | Int(header[2])
                needed = headerEnd + length
            }
            if let total = needed, seen >= total, seen >= headerEnd {
                needed = nil
                timer?.cancel()
                timer = nil
                header = []
                return
            }
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            context.close(promise: nil)
            return
        }
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}
