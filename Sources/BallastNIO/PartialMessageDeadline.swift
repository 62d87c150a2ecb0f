import BallastReporting
import CoreMetrics
public import Logging
public import NIOCore
import Synchronization

/// Bounds the time a stream protocol's message may take to arrive once its first byte has: a
/// client that sends part of a DNS or SIP message and then trickles or stops is closed after
/// `timeout`, while a connection between messages stays as long as the protocol's idle timeout
/// allows. Kept by a message decoder, which alone knows whether bytes of an unfinished message
/// are buffered: it calls `update` after each message and whenever it needs more bytes.
public final class PartialMessageDeadline {
    private let timeout: TimeAmount
    private let listener: String
    private let logger: Logger
    private var generation = 0
    private var armed = false

    /// A deadline of `timeout` per message; a miss is reported under `listener`.
    public init(timeout: TimeAmount, listener: String, logger: Logger) {
        self.timeout = timeout
        self.listener = listener
        self.logger = logger
    }

    /// `partial`: bytes of an unfinished message are buffered. A finished message disarms the clock.
    public func update(partial: Bool, context: ChannelHandlerContext) {
        guard partial else {
            generation &+= 1
            armed = false
            return
        }
        guard !armed else { return }
        armed = true
        let started = generation
        let channel = context.channel
        context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [self] in
            guard armed, generation == started else { return }
            BadInputLog.shared.report(
                listener: listener, reason: "message not whole within its deadline",
                client: channel.remoteAddress?.ipAddress ?? "-", logger: logger)
            channel.close(promise: nil)
        }
    }
}

/// The open connections of one stream listener against its limit, with a gauge of them.
public final class ConnectionLimit: Sendable {
    private let count = Atomic<Int>(0)
    private let gauge: Meter?
    /// Most connections open at once.
    public let limit: Int

    /// A limit of `limit` connections, shown in the gauge `metric` with `dimensions` when given.
    public init(limit: Int, metric: String? = nil, dimensions: [(String, String)] = []) {
        self.limit = limit
        self.gauge = metric.map { Meter(label: $0, dimensions: dimensions) }
    }

    /// Takes a place; false when the listener is full (the connection is to be closed).
    public func enter() -> Bool {
        if count.add(1, ordering: .relaxed).newValue > limit {
            count.subtract(1, ordering: .relaxed)
            return false
        }
        gauge?.increment()
        return true
    }

    /// Gives a place back.
    public func leave() {
        count.subtract(1, ordering: .relaxed)
        gauge?.decrement()
    }

    /// Connections open now.
    public var open: Int { count.load(ordering: .relaxed) }
}
