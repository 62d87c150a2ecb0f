import NIOCore

/// Holds a mail relay's listening socket at the relay's `max-connections`: at the limit the
/// socket is no longer read, so that further clients wait in the kernel's backlog as they do at
/// every engine listener (HAProxy's maxconn), and reading resumes once a connection ends or a
/// reload raises the limit. It sits in the listening channel's pipeline, where every accepted
/// connection passes one at a time on the listening channel's loop, so the count is exact.
final class AcceptLimiter: ChannelInboundHandler {
    typealias InboundIn = any Channel
    typealias InboundOut = any Channel

    private let limit: @Sendable () -> Int
    private let paused: @Sendable (_ limit: Int) -> Void
    private var open = 0
    private var reading = true
    private var context: ChannelHandlerContext?

    /// A limiter reading the relay's limit from `limit` at each accept; `paused` is told each
    /// time the socket stops being read.
    init(limit: @escaping @Sendable () -> Int, paused: @escaping @Sendable (_ limit: Int) -> Void) {
        self.limit = limit
        self.paused = paused
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let child = unwrapInboundIn(data)
        open += 1
        let loop = context.eventLoop
        let bound = NIOLoopBound(self, eventLoop: loop)
        child.closeFuture.whenComplete { _ in
            loop.execute { bound.value.ended() }
        }
        if open >= limit() { stopReading() }
        context.fireChannelRead(data)
    }

    /// Looks at the limit again (a reload changed it); reading resumes if it left room.
    func limitChanged() {
        if open < limit() { resumeReading() } else { stopReading() }
    }

    private func ended() {
        open -= 1
        if open < limit() { resumeReading() }
    }

    private func stopReading() {
        guard reading, let context else { return }
        reading = false
        context.channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
        paused(limit())
    }

    private func resumeReading() {
        guard !reading, let context else { return }
        reading = true
        context.channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in }
    }
}
