import BallastCore
import BallastEngine
import BallastReporting
import CBallastLinux
import CoreMetrics

#if canImport(Glibc)
    import Glibc
#endif

/// One client's DNS over TCP on its engine loop: messages framed by their two-byte length
/// (RFC 1035 section 4.2.2) answered in order. A query must arrive whole within the listener's
/// timeout and a quiet connection is closed after it; answers that do not fit the socket wait,
/// and no further query is read until they are gone.
final class DNSTCPConnection: EngineConnection {
    let slot: Int
    var listenerID: Int { listener.id }
    private(set) var deadline: UInt64 = 0
    private let listener: DNSTCPListener
    private let fd: Int32
    private let client: IPAddress?
    /// Bytes read and not yet answered: `input[0..<filled]`.
    private var input: [UInt8]
    private var filled = 0
    /// Framed answers not yet written: `output[written...]`.
    private var output: [UInt8] = []
    private var written = 0
    private var peerClosed = false
    private var closed = false
    /// Reading stopped because answers wait to be written.
    private var readingPaused = false
    /// Whether the loop holds a timer entry for this connection; the deadline only moves later,
    /// so one entry that re-arms itself when it fires early is enough.
    private var timerArmed = false
    /// Answers waiting past this many bytes stop the reading of further queries.
    private static let outputLimit = 256 * 1024

    init(slot: Int, listener: DNSTCPListener, fd: Int32, client: IPAddress?) {
        self.slot = slot
        self.listener = listener
        self.fd = fd
        self.client = client
        input = [UInt8](repeating: 0, count: 1_024)
    }

    func start(context: LoopContext) {
        arm(context)
    }

    func handle(side: ConnectionSide, flags: UInt32, context: LoopContext) {
        if flags & EPOLLOUT.rawValue != 0 {
            flush(context)
            guard !closed else { return }
        }
        if flags & (EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0 {
            readAndAnswer(context)
        }
    }

    func timerFired(at time: UInt64, context: LoopContext) {
        timerArmed = false
        guard !closed else { return }
        guard context.now >= deadline else {
            timerArmed = true
            context.schedule(self, at: deadline)
            return
        }
        if filled > 0 {
            BadInputLog.shared.report(
                listener: "dns-tcp", reason: "message not whole within its deadline", client: describeClient,
                logger: listener.server.logger)
        }
        close(context: context)
    }

    func continueMoving(context: LoopContext) { readAndAnswer(context) }

    func continueAfterPoll(context: LoopContext) {}

    func close(context: LoopContext) {
        guard !closed else { return }
        closed = true
        Glibc.close(fd)
        context.release(self)
        listener.connectionClosed(on: context.loop)
    }

    // MARK: Reading and answering

    private func readAndAnswer(_ context: LoopContext) {
        while !closed && !peerClosed {
            guard output.count - written < Self.outputLimit else {
                readingPaused = true
                return
            }
            if filled == input.count { input.append(contentsOf: repeatElement(0, count: input.count)) }
            let count = input.withUnsafeMutableBytes { buffer in
                ballast_read(fd, buffer.baseAddress! + filled, UInt(buffer.count - filled))
            }
            if count > 0 {
                filled += count
                answerWholeMessages(context)
                continue
            }
            if count == 0 {
                peerClosed = true
            } else if -count != EAGAIN && -count != EWOULDBLOCK && -count != EINTR {
                close(context: context)
                return
            }
            break
        }
        guard !closed else { return }
        if peerClosed && written == output.count {
            close(context: context)
        }
    }

    /// Answers every whole message at the start of the input, then keeps the rest.
    private func answerWholeMessages(_ context: LoopContext) {
        var start = 0
        while filled - start >= 2 {
            let length = Int(input[start]) << 8 | Int(input[start + 1])
            guard filled - start >= 2 + length else {
                // Room for the whole message, so that the next reads complete it.
                if input.count < 2 + length {
                    input.append(contentsOf: repeatElement(0, count: 2 + length - input.count))
                }
                break
            }
            let message = Array(input[(start + 2)..<(start + 2 + length)])
            start += 2 + length
            guard answer(message) else {
                close(context: context)
                return
            }
        }
        if start > 0 {
            input.withUnsafeMutableBytes { buffer in
                _ = memmove(buffer.baseAddress!, buffer.baseAddress! + start, filled - start)
            }
            filled -= start
            // A whole query answered: the connection's quiet time starts again.
            if filled == 0 { arm(context) }
        }
        flush(context)
    }

    /// Queues the answers to one message; false when it gets none (the connection is closed).
    private func answer(_ message: [UInt8]) -> Bool {
        let server = listener.server
        server.metrics.tcpQueries.increment()
        let replies: [[UInt8]]
        if let transfer = server.transfer(message, client: client) {
            replies = transfer
        } else if let reply = server.respond(to: message, transport: .tcp, client: describeClient) {
            replies = [reply]
        } else {
            return false
        }
        for reply in replies where reply.count <= Int(UInt16.max) {
            output.append(UInt8(reply.count >> 8))
            output.append(UInt8(reply.count & 0xff))
            output.append(contentsOf: reply)
        }
        return true
    }

    // MARK: Writing

    private func flush(_ context: LoopContext) {
        while written < output.count {
            let count = output.withUnsafeBytes { bytes in
                ballast_write(fd, bytes.baseAddress! + written, UInt(output.count - written))
            }
            if count > 0 {
                written += count
                continue
            }
            if -count == EAGAIN || -count == EWOULDBLOCK || -count == EINTR {
                watchWritable(context)
                // A secondary reading a zone slowly still counts as busy.
                arm(context)
                return
            }
            close(context: context)
            return
        }
        output.removeAll(keepingCapacity: output.count <= 64 * 1024)
        written = 0
        if peerClosed {
            close(context: context)
        } else if readingPaused {
            // Reading stopped while answers waited: go on with what the client sent meanwhile.
            readingPaused = false
            context.markReady(self)
        }
    }

    private func watchWritable(_ context: LoopContext) {
        _ = ballast_epoll_modify(
            context.loop.epollFD, fd, EPOLLIN.rawValue | EPOLLOUT.rawValue | EPOLLRDHUP.rawValue | EPOLLET.rawValue,
            context.tag(slot: slot, side: .front))
    }

    private func arm(_ context: LoopContext) {
        deadline = context.now + listener.timeout
        guard !timerArmed else { return }
        timerArmed = true
        context.schedule(self, at: deadline)
    }

    private var describeClient: String { client.map { "\($0)" } ?? "-" }
}
