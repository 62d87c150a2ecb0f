import BallastCodecs
import BallastCore
import BallastEngine
import BallastReporting
import BallastSIPRegistrar
import BallastTLS
import CBallastLinux

#if canImport(Glibc)
    import Glibc
#endif

/// One client's SIP over TCP or TLS on its engine loop: messages framed by Content-Length
/// (RFC 3261 18.3), answered in order. An answer that waits (its bindings going to disk, a
/// failed login held back) holds back the ones after it. A message must arrive whole within
/// `sip.message-timeout` of its first byte, a TLS handshake within `sip.handshake-timeout`,
/// and a quiet connection is closed after two hours. A stream that cannot be framed is
/// answered 400 and closed. A double CRLF (RFC 5626 keep-alive ping) is answered with one.
final class SIPStreamConnection: EngineConnection {
    /// Carries the connection to another thread only to hand it back to its loop
    /// (`EngineLoop.execute`), where alone it is touched; hence `@unchecked Sendable`.
    private struct OnItsLoop: @unchecked Sendable {
        let connection: SIPStreamConnection
    }

    let slot: Int
    var listenerID: Int { listener.id }
    private(set) var deadline: UInt64 = 0
    private let listener: SIPStreamListener
    private let io: SocketIO
    private let loop: EngineLoop
    private let source: SIPSource
    private let tlsFailed: Bool
    /// Bytes read and not yet framed: `input[0..<filled]`.
    private var input = [UInt8](repeating: 0, count: 4_096)
    private var filled = 0
    /// Answers not yet in `output`, in request order: nil while one waits. The first has
    /// number `firstWaiting`.
    private var waiting: [[UInt8]?] = []
    private var firstWaiting = 0
    /// Bytes to write: `output[written...]`.
    private var output: [UInt8] = []
    private var written = 0
    private var peerClosed = false
    /// Set after a 400 for a stream that cannot be framed: nothing more is read.
    private var closeAfterWriting = false
    private var closed = false
    private var readingPaused = false
    /// A message has begun and is not whole yet.
    private var partial = false
    /// A whole message came: from now on a quiet connection waits the idle time.
    private var answeredOne = false
    /// Answers waiting past this many bytes, or this many answers held back, stop the reading
    /// of further requests.
    private static let outputLimit = 256 * 1024
    private static let waitingLimit = 64

    init(slot: Int, listener: SIPStreamListener, io: SocketIO, peer: Endpoint?, loop: EngineLoop, tlsFailed: Bool) {
        self.slot = slot
        self.listener = listener
        self.io = io
        self.loop = loop
        self.tlsFailed = tlsFailed
        source = SIPSource(
            host: peer.map { "\($0.address)" } ?? "0.0.0.0", port: peer?.port ?? 0, transport: listener.transport)
    }

    func start(context: LoopContext) {
        if tlsFailed {
            close(context: context)
            return
        }
        // The first message must come within the message deadline too: a connection that says
        // nothing is not held for the idle time meant for phones between registrations.
        arm(context, after: io.tls == nil ? listener.messageTimeout : listener.handshakeTimeout)
    }

    func handle(side: ConnectionSide, flags: UInt32, context: LoopContext) {
        if flags & EPOLLOUT.rawValue != 0 {
            flush(context)
            guard !closed else { return }
            // A handshake that waited to write goes on by reading.
            if let tls = io.tls, !tls.isEstablished { readAndAnswer(context) }
        }
        if flags & (EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0 {
            readAndAnswer(context)
        }
    }

    func timerFired(at time: UInt64, context: LoopContext) {
        guard !closed else { return }
        guard context.now >= deadline else {
            // An entry for an earlier deadline that has since moved later.
            if time < deadline { context.schedule(self, at: deadline) }
            return
        }
        let transport = "sip-\(listener.transport) \(listener.endpoint)"
        if let tls = io.tls, !tls.isEstablished {
            BadInputLog.shared.report(
                listener: transport, reason: "TLS handshake not done within sip.handshake-timeout", client: client,
                logger: listener.logger)
        } else if partial {
            BadInputLog.shared.report(
                listener: transport, reason: "message not whole within sip.message-timeout", client: client,
                logger: listener.logger)
        }
        close(context: context)
    }

    func continueMoving(context: LoopContext) { readAndAnswer(context) }

    func continueAfterPoll(context: LoopContext) {}

    func close(context: LoopContext) {
        guard !closed else { return }
        closed = true
        if io.tls?.isEstablished == true { io.shutdownWrite() }
        Glibc.close(io.fd)
        context.release(self)
        listener.connectionClosed(on: context.loop)
    }

    // MARK: Reading and answering

    private func readAndAnswer(_ context: LoopContext) {
        let wasEstablished = io.tls?.isEstablished ?? true
        while !closed && !peerClosed && !closeAfterWriting {
            guard output.count - written < Self.outputLimit, waiting.count < Self.waitingLimit else {
                readingPaused = true
                return
            }
            if filled == input.count { input.append(contentsOf: repeatElement(0, count: input.count)) }
            let count = input.withUnsafeMutableBytes { buffer in
                io.read(buffer.baseAddress! + filled, count: buffer.count - filled)
            }
            if count > 0 {
                filled += count
                answerWholeMessages(context)
                continue
            }
            if count == 0 {
                peerClosed = true
            } else if -count == EAGAIN || -count == EWOULDBLOCK || -count == EINTR {
                if io.tls?.wantsWritable == true { io.watchWritable(slot: slot, context: context) }
            } else {
                if let tls = io.tls, !tls.isEstablished {
                    BadInputLog.shared.report(
                        listener: "sip-tls \(listener.endpoint)", reason: "TLS handshake failed", client: client,
                        logger: listener.logger, detail: io.describe(Int32(-count)))
                }
                close(context: context)
                return
            }
            break
        }
        guard !closed else { return }
        if !wasEstablished, io.tls?.isEstablished == true, !partial { arm(context, after: listener.messageTimeout) }
        if peerClosed && waiting.isEmpty && written == output.count { close(context: context) }
    }

    /// Answers every whole message at the start of the input, then keeps the rest.
    private func answerWholeMessages(_ context: LoopContext) {
        var start = 0
        while start < filled && !closeAfterWriting {
            // Blank lines between messages: keep-alives; a double CRLF is a ping (RFC 5626).
            var blank = start
            while blank < filled && (input[blank] == 13 || input[blank] == 10) { blank += 1 }
            if blank > start {
                if blank - start >= 4 { queue(Array("\r\n".utf8)) }
                start = blank
                continue
            }
            let length: Int?
            do {
                length = try SIPMessageParser.frameLength(input[start..<filled])
            } catch {
                malformed(error)
                break
            }
            guard let length else { break }
            let frame = input[start..<(start + length)]
            start += length
            do {
                answer(try SIPMessageParser.parse(frame: frame), context: context)
                answeredOne = true
            } catch {
                malformed(error)
            }
            if closed { return }
        }
        if closeAfterWriting {
            // Nothing after a stream that cannot be framed is read.
            filled = 0
            flush(context)
            return
        }
        if start > 0 {
            input.withUnsafeMutableBytes { buffer in
                _ = memmove(buffer.baseAddress!, buffer.baseAddress! + start, filled - start)
            }
            filled -= start
        }
        // The message deadline runs from a message's first byte, not from each read.
        if filled > 0 && !partial {
            partial = true
            arm(context, after: listener.messageTimeout)
        } else if filled == 0 && (partial || answeredOne) {
            partial = false
            arm(context, after: listener.idleTimeout)
        }
        flush(context)
    }

    private func answer(_ message: SIPMessage, context: LoopContext) {
        let registrar = listener.registrar
        let source = source
        guard
            let reply = registrar.answer(
                to: message, from: source, servedPool: listener.pool, now: .now(from: listener.time))
        else {
            return
        }
        if let journal = listener.journal, !reply.changes.isEmpty {
            // The 200 leaves once its batch is on disk; the journal's thread hands it back here.
            let number = hold()
            let handle = OnItsLoop(connection: self)
            let loop = loop
            journal.submit(reply.changes, lane: context.loop.index) { saved in
                let bytes = SIPMessageWriter.encode(
                    saved ? reply.message : registrar.bindingsNotSaved(message, from: source))
                loop.execute { context in handle.connection.deliver(bytes, number: number, context: context) }
            }
            return
        }
        guard reply.delay > .zero else {
            queue(SIPMessageWriter.encode(reply.message))
            return
        }
        // A failed login answered later; past the bound on answers held back, the connection goes.
        let number = hold()
        let handle = OnItsLoop(connection: self)
        let loop = loop
        let bytes = SIPMessageWriter.encode(reply.message)
        let held = DelayedAnswers.shared.after(reply.delay) {
            loop.execute { context in handle.connection.deliver(bytes, number: number, context: context) }
        }
        if !held { close(context: context) }
    }

    /// Bytes that are not a SIP message: counted and logged, answered 400, then the connection closes.
    private func malformed(_ error: SIPParseError) {
        listener.registrar.reportMalformed(error, from: source)
        queue(Array("SIP/2.0 400 Bad Request\r\nServer: Ballast\r\nContent-Length: 0\r\n\r\n".utf8))
        closeAfterWriting = true
    }

    // MARK: Answers in order

    /// An answer ready now: written behind any still held back.
    private func queue(_ bytes: [UInt8]) {
        if waiting.isEmpty {
            output += bytes
        } else {
            waiting.append(bytes)
        }
    }

    /// A place for an answer that comes later; its number for `deliver`.
    private func hold() -> Int {
        waiting.append(nil)
        return firstWaiting + waiting.count - 1
    }

    /// An answer held back is ready; it and those behind it that are ready go out.
    private func deliver(_ bytes: [UInt8], number: Int, context: LoopContext) {
        guard !closed else { return }
        waiting[number - firstWaiting] = bytes
        while let first = waiting.first, let ready = first {
            output += ready
            waiting.removeFirst()
            firstWaiting += 1
        }
        flush(context)
    }

    // MARK: Writing

    private func flush(_ context: LoopContext) {
        while written < output.count {
            let count = output.withUnsafeBytes { bytes in
                io.write(bytes.baseAddress! + written, output.count - written, nil, 0)
            }
            if count > 0 {
                written += count
                continue
            }
            if -count == EAGAIN || -count == EWOULDBLOCK || -count == EINTR {
                io.watchWritable(slot: slot, context: context)
                return
            }
            close(context: context)
            return
        }
        output.removeAll(keepingCapacity: output.count <= 64 * 1024)
        written = 0
        if waiting.isEmpty && (closeAfterWriting || peerClosed) {
            close(context: context)
        } else if readingPaused && waiting.count < Self.waitingLimit {
            // Reading stopped while answers waited: go on with what the client sent meanwhile.
            readingPaused = false
            context.markReady(self)
        }
    }

    /// Sets the connection's deadline `milliseconds` from now. A deadline that moves earlier
    /// gets a timer entry of its own; one that moves later is found by the entry already due
    /// before it, which re-arms (the loop's heap keeps an entry at every live deadline).
    private func arm(_ context: LoopContext, after milliseconds: UInt64) {
        let next = context.now + milliseconds
        let earlier = deadline == 0 || next < deadline
        deadline = next
        if earlier { context.schedule(self, at: next) }
    }

    private var client: String { "\(source.host):\(source.port)" }
}
