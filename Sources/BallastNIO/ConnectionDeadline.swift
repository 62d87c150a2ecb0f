import BallastReporting
public import Logging
public import NIOCore
import NIOTLS

/// Closes a connection that has not reached a milestone in time: a TLS handshake that is not done
/// within `timeouts.handshake` (or whose client shuts its side before it is), a mail client that
/// has not logged in within `timeouts.login`. One
/// timer, armed when the handler joins an active channel (or when the channel becomes active) and
/// cancelled when the milestone is reached; on expiry the miss is reported as bad input and the
/// connection closed, so that silent or trickling clients cannot hold sockets.
public final class ConnectionDeadline: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = NIOAny
    public typealias InboundOut = NIOAny

    /// What ends the wait.
    public enum Milestone: Sendable {
        /// NIOSSL's `handshakeCompleted` event passing through this handler.
        case tlsHandshake
        /// A call to `reached()` (the login, say).
        case signalled
    }

    private let timeout: TimeAmount
    private let milestone: Milestone
    private let listener: String
    private let reason: String
    private let logger: Logger
    private var timer: Scheduled<Void>?
    private var done = false

    /// A deadline of `timeout` for `milestone`; a miss is reported under `listener` with `reason`.
    public init(timeout: TimeAmount, milestone: Milestone, listener: String, reason: String, logger: Logger) {
        self.timeout = timeout
        self.milestone = milestone
        self.listener = listener
        self.reason = reason
        self.logger = logger
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context) }
    }

    public func handlerRemoved(context: ChannelHandlerContext) { cancel() }

    public func channelActive(context: ChannelHandlerContext) {
        arm(context)
        context.fireChannelActive()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        cancel()
        context.fireChannelInactive()
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .tlsHandshake = milestone {
            if let tls = event as? TLSUserEvent, case .handshakeCompleted = tls {
                done = true
                cancel()
                // Passed on before leaving: a removed context forwards nothing, and the protocol
                // negotiation after this handler waits for this event.
                context.fireUserInboundEventTriggered(event)
                context.pipeline.syncOperations.removeHandler(self, promise: nil)
                return
            } else if case ChannelEvent.inputClosed = event, !done {
                // The client stopped sending before its handshake was whole: nothing can follow.
                context.close(promise: nil)
                return
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// The milestone was reached: the connection may live on. Called on the channel's event loop.
    public func reached() {
        done = true
        cancel()
    }

    private func arm(_ context: ChannelHandlerContext) {
        guard timer == nil, !done else { return }
        let channel = context.channel
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [self] in
            timer = nil
            guard !done else { return }
            BadInputLog.shared.report(
                listener: listener, reason: reason, client: channel.remoteAddress?.ipAddress ?? "-", logger: logger)
            channel.close(promise: nil)
        }
    }

    private func cancel() {
        timer?.cancel()
        timer = nil
    }
}

/// Closes a connection whose client has shut its sending side while nothing of it can be answered
/// any more: before a TLS handshake or an HTTP/2 preface is whole, before a mail login. Without it
/// such a socket (remote half-close allowed) sits in CLOSE-WAIT until the idle timeout.
public final class HalfCloseCloser: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = NIOAny
    public typealias InboundOut = NIOAny

    /// A closer; it closes at the first `inputClosed` it sees.
    public init() {}

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}
