import BallastCodecs
import BallastCore
import BallastEngine
import BallastReporting
import BallastTLS
import CBallastLinux
import CNGHTTP2
import CoreMetrics
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// One client's HTTP/2 connection on an engine loop, by ALPN `h2` on https relays or by prior
/// knowledge (h2c) on plain ones. nghttp2 does the framing, HPACK and flow control from memory
/// buffers; each stream becomes an HTTP/1.1 exchange with a server connection of the loop's
/// pool, under the same balancing, persistence, forwarding headers and routing by user as an
/// HTTP/1.1 client's requests. Request bodies are acknowledged to the client (WINDOW_UPDATE)
/// only once a server took them, and response bodies are read from a server only as fast as
/// the client's windows let them leave, so that memory stays bounded end to end.
final class HTTP2EngineConnection: EngineConnection {
    let slot: Int
    let listener: EngineHTTPListener
    var listenerID: Int { listener.id }
    private(set) var deadline: UInt64 = 0
    let runtime: EngineHTTPRuntime
    let io: SocketIO
    let client: IPAddress
    let heads: HTTPLoopHeads
    /// The loop the connection lives on, for nghttp2's callbacks.
    let context: LoopContext
    private(set) var session: OpaquePointer?
    private(set) var policy: HTTP1RequestPolicy
    private(set) var limits = HTTP1Limits()
    private(set) var timeouts = HTTPTimeouts()
    private var closed = false

    private var input: UnsafeMutableRawPointer?
    private var clientReadable = true
    /// Frames nghttp2 made, gathered for one write; `pending` is a frame too large for the
    /// room left, still in nghttp2's memory (valid until its next `mem_send`).
    private var output: UnsafeMutableRawPointer?
    private var outStart = 0
    private var outEnd = 0
    private var pending: (bytes: UnsafePointer<UInt8>, count: Int)?
    /// Frames nghttp2 made are still to be written.
    private var holdsOutput: Bool { outEnd > outStart || pending != nil }
    private var watchingWritable = false
    /// The preface and the first SETTINGS frame came.
    private var greeted = false
    private var startedAt: UInt64 = 0
    private(set) var lastActivity: UInt64 = 0
    /// The response fields being made, reused.
    let fields = HTTP2FieldList()
    /// The request head being received, as HTTP/1.1 parts: one stream's at a time, since a
    /// header block is never interleaved with another (RFC 9113 section 4.3). Kept for their
    /// capacity, so that a stream's head costs no allocation.
    var requestHead = HTTP2RequestHead()
    /// A pump waits for the loop's next turn.
    private var pumpScheduled = false
    /// A write to the client waits for the loop's next look for events.
    private var flushScheduled = false
    /// Streams with an exchange under way, by their id.
    private var streams: [Int32: HTTP2Stream] = [:]
    /// Streams with bytes to move, to and from their servers: those a server's socket, the
    /// client's frames or nghttp2's taking of body bytes woke, and those that moved bytes the
    /// last round. A pump visits these, not every stream of the connection.
    private var movable: [HTTP2Stream] = []
    /// The streams a pump visits this round (their list's storage, kept for its capacity).
    private var moving: [HTTP2Stream] = []

    private static let maxRounds = 64
    /// SETTINGS_MAX_CONCURRENT_STREAMS, as HAProxy's default.
    static let maxConcurrentStreams: UInt32 = 100
    /// The connection's receive window: what all streams' request bodies may hold together.
    static let connectionWindow: Int32 = 1 << 20

    init(
        slot: Int, listener: EngineHTTPListener, runtime: EngineHTTPRuntime, io: SocketIO, client: IPAddress,
        heads: HTTPLoopHeads, relay: Relay?, context: LoopContext
    ) {
        self.slot = slot
        self.listener = listener
        self.runtime = runtime
        self.io = io
        self.client = client
        self.heads = heads
        self.context = context
        let settings = relay?.http ?? HTTPSettings()
        policy = HTTP1RequestPolicy(
            settings: settings, client: client, relayAddress: relay?.listen, isTLS: io.tls != nil,
            cookieName: runtime.cookie.map { String(decoding: $0.name, as: UTF8.self) })
        if let relay, let http = relay.http {
            limits = HTTP1Limits(maxHeadBytes: http.maxHeaderBytes, maxFields: 100)
            timeouts = HTTPTimeouts(relay, http: http)
        }
    }

    // MARK: Starting

    /// Takes over a connection whose first bytes (`bytes`, possibly none) an HTTP/1.1
    /// connection read: they are the start of the client's preface.
    func start(with bytes: UnsafeRawBufferPointer, startedAt: UInt64, context: LoopContext) -> Bool {
        self.startedAt = startedAt
        lastActivity = context.now
        guard let session = Self.makeSession(owner: self) else {
            runtime.logger.error(
                "cannot start HTTP/2: nghttp2 is out of memory", metadata: ["relay": "\(runtime.relayName)"])
            return false
        }
        self.session = session
        var settings = [
            nghttp2_settings_entry(
                settings_id: Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue), value: Self.maxConcurrentStreams),
            nghttp2_settings_entry(
                settings_id: Int32(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE.rawValue), value: UInt32(limits.maxHeadBytes)),
            // RFC 9113 deprecates the dependency tree; without it nghttp2 schedules streams by
            // RFC 9218 urgency and keeps no tree per stream.
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES.rawValue), value: 1),
        ]
        guard nghttp2_submit_settings(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), &settings, settings.count) == 0,
            nghttp2_session_set_local_window_size(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0, Self.connectionWindow)
                == 0
        else { return false }
        if bytes.count > 0 && !receive(bytes) { return true }
        want(startedAt + min(timeouts.request, timeouts.idle), context: context)
        pump(context)
        return true
    }

    func start(context: LoopContext) {}

    private static func makeSession(owner: HTTP2EngineConnection) -> OpaquePointer? {
        var callbacks: OpaquePointer?
        guard nghttp2_session_callbacks_new(&callbacks) == 0, let callbacks else { return nil }
        defer { nghttp2_session_callbacks_del(callbacks) }
        nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, onBeginHeaders)
        nghttp2_session_callbacks_set_on_header_callback(callbacks, onHeader)
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, onFrame)
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, onData)
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, onStreamClose)
        nghttp2_session_callbacks_set_on_frame_send_callback(callbacks, onFrameSent)
        var option: OpaquePointer?
        guard nghttp2_option_new(&option) == 0, let option else { return nil }
        defer { nghttp2_option_del(option) }
        // Request bodies are acknowledged when a server has taken them, not when they arrive.
        nghttp2_option_set_no_auto_window_update(option, 1)
        // Closed streams are not kept for the priority tree (RFC 9113 deprecates it), and
        // response fields are encoded without the dynamic table, as HAProxy's encoder does: less
        // work per response for a few more bytes.
        nghttp2_option_set_no_closed_streams(option, 1)
        nghttp2_option_set_max_deflate_dynamic_table_size(option, 0)
        var session: OpaquePointer?
        guard nghttp2_session_server_new2(&session, callbacks, Unmanaged.passUnretained(owner).toOpaque(), option) == 0
        else { return nil }
        return session
    }

    // MARK: Events

    func handle(side: ConnectionSide, flags: UInt32, context: LoopContext) {
        guard !closed else { return }
        if flags & (EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0 {
            close(context: context)
            return
        }
        if flags & (EPOLLIN.rawValue | EPOLLRDHUP.rawValue) != 0 { clientReadable = true }
        if io.tls != nil && flags & EPOLLOUT.rawValue != 0 { clientReadable = true }
        pump(context)
    }

    func continueMoving(context: LoopContext) {
        pumpScheduled = false
        pump(context)
    }

    /// Pumps once the loop has handled this turn's events: the responses of every server that
    /// answered in the meantime then leave in one write to the client, as HAProxy's do.
    func pumpSoon(_ context: LoopContext) {
        guard !pumpScheduled, !closed else { return }
        pumpScheduled = true
        context.markReady(self)
    }

    /// The write to the client, left until after the loop's next look for events.
    func continueAfterPoll(context: LoopContext) {
        guard flushScheduled else { return }
        flushScheduled = false
        pump(context, flushing: true)
    }

    /// Moves what can move: the client's frames into nghttp2, each stream's bytes to and from
    /// its server, nghttp2's frames to the client; a bounded number of rounds per event.
    ///
    /// The client's frames are written `flushing`, else after the loop has looked for events
    /// once more without waiting: the responses of servers that answered in the meantime then
    /// leave in the same write, and the client wakes once for them rather than for each.
    func pump(_ context: LoopContext, flushing: Bool = false) {
        for _ in 0..<Self.maxRounds {
            guard !closed, let session else { return }
            var progressed = false
            if clientReadable { progressed = readClient(context) }
            if closed { return }
            if moveStreams(context) { progressed = true }
            if closed { return }
            if flushing {
                if flush(context) { progressed = true }
            } else if !flushScheduled && (nghttp2_session_want_write(session) != 0 || holdsOutput) {
                flushScheduled = true
                context.deferUntilAfterPoll(self)
            }
            if closed { return }
            if nghttp2_session_want_read(session) == 0 && nghttp2_session_want_write(session) == 0 && !holdsOutput {
                close(context: context)
                return
            }
            if !progressed { return }
        }
        pumpSoon(context)
    }

    /// Moves the bytes of the streams that have some to move; true when bytes moved.
    private func moveStreams(_ context: LoopContext) -> Bool {
        guard !movable.isEmpty else { return false }
        swap(&movable, &moving)
        var progressed = false
        for stream in moving {
            stream.queued = false
            if stream.move(context) {
                progressed = true
                queueMove(stream)
            }
            if closed { break }
        }
        moving.removeAll(keepingCapacity: true)
        return progressed
    }

    /// Has `stream` moved at the next round of the pump under way.
    func queueMove(_ stream: HTTP2Stream) {
        guard !stream.queued, !closed else { return }
        stream.queued = true
        movable.append(stream)
    }

    /// Has `stream` moved at the pump after this turn of the loop's events.
    func moveSoon(_ stream: HTTP2Stream, context: LoopContext) {
        queueMove(stream)
        pumpSoon(context)
    }

    // MARK: Client to nghttp2

    private func readClient(_ context: LoopContext) -> Bool {
        if input == nil { input = context.buffers.take() }
        let space = context.buffers.size
        let count = io.read(input!, count: space)
        if count > 0 {
            lastActivity = context.now
            if io.drained(count: count, space: space) { clientReadable = false }
            _ = receive(UnsafeRawBufferPointer(start: input, count: count))
            return true
        }
        if count == -Int(EAGAIN) || count == -Int(EWOULDBLOCK) {
            clientReadable = false
            context.buffers.give(input!)
            input = nil
            if io.tls?.wantsWritable == true { watchWritable(context) }
            return false
        }
        // The end of the stream: an HTTP/2 client that stops sending is gone.
        close(context: context)
        return false
    }

    /// Hands the client's bytes to nghttp2; false when it refused them and the connection ends.
    private func receive(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let session, let base = bytes.baseAddress else { return true }
        let result = nghttp2_session_mem_recv(session, base.assumingMemoryBound(to: UInt8.self), bytes.count)
        if result < 0 {
            runtime.metrics.badRequests.increment()
            BadInputLog.shared.report(
                listener: runtime.relayName, reason: "HTTP/2 protocol error", client: "\(client)",
                logger: runtime.logger,
                detail: String(cString: nghttp2_strerror(Int32(result))))
            // nghttp2 queued GOAWAY for most errors; send it, then close.
            _ = flush(context)
            close(context: context)
            return false
        }
        return true
    }

    // MARK: nghttp2 to the client

    /// Writes nghttp2's frames, gathered into one buffer per write; true when bytes left.
    private func flush(_ context: LoopContext) -> Bool {
        guard let session else { return false }
        var progressed = false
        while true {
            if output == nil { output = context.buffers.take() }
            let size = context.buffers.size
            while pending == nil {
                var frame: UnsafePointer<UInt8>?
                let count = nghttp2_session_mem_send(session, &frame)
                if count < 0 {
                    runtime.logger.warning(
                        "HTTP/2 session failed", metadata: ["relay": "\(runtime.relayName)", "error": "\(count)"])
                    close(context: context)
                    return false
                }
                guard count > 0, let frame else { break }
                if count <= size - outEnd {
                    (output! + outEnd).copyMemory(from: frame, byteCount: count)
                    outEnd += count
                } else {
                    pending = (frame, count)
                }
            }
            let first = outEnd - outStart
            let second = pending?.count ?? 0
            if first == 0 && second == 0 {
                context.buffers.give(output!)
                output = nil
                outStart = 0
                outEnd = 0
                return progressed
            }
            let written = io.write(output! + outStart, first, pending.map { UnsafeRawPointer($0.bytes) }, second)
            if written > 0 {
                progressed = true
                lastActivity = context.now
                let fromFirst = min(written, first)
                outStart += fromFirst
                if outStart == outEnd {
                    outStart = 0
                    outEnd = 0
                }
                let fromSecond = written - fromFirst
                if fromSecond > 0, let frame = pending {
                    pending = fromSecond == frame.count ? nil : (frame.bytes + fromSecond, frame.count - fromSecond)
                }
                if written < first + second {
                    watchWritable(context)
                    return true
                }
                continue
            }
            if written == -Int(EAGAIN) || written == -Int(EWOULDBLOCK) {
                watchWritable(context)
                return progressed
            }
            close(context: context)
            return false
        }
    }

    private func watchWritable(_ context: LoopContext) {
        guard !watchingWritable else { return }
        watchingWritable = true
        io.watchWritable(slot: slot, context: context)
    }

    // MARK: Streams

    /// A request's headers begin: its stream is made.
    fileprivate func beginStream(_ id: Int32) -> Int32 {
        guard let session else { return NGHTTP2_ERR_CALLBACK_FAILURE.rawValue }
        let stream = HTTP2Stream(id: id, connection: self)
        requestHead.clear()
        streams[id] = stream
        nghttp2_session_set_stream_user_data(session, id, Unmanaged.passUnretained(stream).toOpaque())
        greeted = true
        return 0
    }

    fileprivate func stream(_ id: Int32) -> HTTP2Stream? {
        guard let session, let pointer = nghttp2_session_get_stream_user_data(session, id) else { return nil }
        return Unmanaged<HTTP2Stream>.fromOpaque(pointer).takeUnretainedValue()
    }

    fileprivate func streamClosed(_ id: Int32, error: UInt32) {
        guard let stream = streams.removeValue(forKey: id) else { return }
        stream.closed(error: error, context: context)
    }

    /// Acknowledges `count` bytes of a stream's request body as taken.
    func consume(stream id: Int32, count: Int) {
        guard let session, count > 0 else { return }
        if nghttp2_session_consume(session, id, count) != 0 {
            _ = nghttp2_session_consume_connection(session, count)
        }
    }

    /// Submits a response's head for stream `id`, with a body provider when `body`.
    func submitResponse(_ id: Int32, fields: UnsafePointer<nghttp2_nv>, count: Int, body: Bool) -> Bool {
        guard let session else { return false }
        if body {
            var provider = nghttp2_data_provider(source: nghttp2_data_source(ptr: nil), read_callback: Self.readBody)
            return nghttp2_submit_response(session, id, fields, count, &provider) == 0
        }
        return nghttp2_submit_response(session, id, fields, count, nil) == 0
    }

    /// Submits an interim (1xx) response's head for stream `id`.
    func submitInterim(_ id: Int32, fields: UnsafePointer<nghttp2_nv>, count: Int) -> Bool {
        guard let session else { return false }
        return nghttp2_submit_headers(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), id, nil, fields, count, nil) == 0
    }

    /// Body bytes left for the client: the connection is not idle.
    func noteActivity() { lastActivity = context.now }

    /// Tells nghttp2 a stream's deferred body has bytes again.
    func resume(_ id: Int32) {
        guard let session else { return }
        _ = nghttp2_session_resume_data(session, id)
    }

    /// Ends stream `id` with RST_STREAM and `code`.
    func reset(_ id: Int32, code: nghttp2_error_code) {
        guard let session else { return }
        _ = nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), id, code.rawValue)
    }

    // MARK: Timers

    /// Makes sure the timer fires no later than `time`; it re-arms itself when it fires early.
    func want(_ time: UInt64, context: LoopContext) {
        guard deadline == 0 || time < deadline else { return }
        deadline = time
        context.schedule(self, at: time)
    }

    func timerFired(at time: UInt64, context: LoopContext) {
        guard time == deadline, !closed else { return }
        deadline = 0
        let now = context.now
        if !greeted {
            if now >= startedAt + min(timeouts.request, timeouts.idle) {
                BadInputLog.shared.report(
                    listener: runtime.relayName, reason: "HTTP/2 preface not whole within timeouts.request",
                    client: "\(client)", logger: runtime.logger)
                close(context: context)
                return
            }
            want(startedAt + min(timeouts.request, timeouts.idle), context: context)
            return
        }
        var next = UInt64.max
        for stream in streams.values {
            if let due = stream.timerFired(now: now, context: context) { next = min(next, due) }
            if closed { return }
        }
        // An idle connection ends with GOAWAY after the keep-alive timeout, as an HTTP/1.1 one does.
        let idleLimit = streams.isEmpty ? min(timeouts.keepAlive, timeouts.idle) : timeouts.idle
        if now >= lastActivity + idleLimit {
            if let session, streams.isEmpty {
                _ = nghttp2_session_terminate_session(session, NGHTTP2_NO_ERROR.rawValue)
                pump(context, flushing: true)
                if !closed { close(context: context) }
            } else {
                close(context: context)
            }
            return
        }
        next = min(next, lastActivity + idleLimit)
        want(max(next, now + 1), context: context)
        pump(context)
    }

    // MARK: Closing

    func close(context: LoopContext) {
        guard !closed else { return }
        closed = true
        for stream in streams.values { stream.closed(error: NGHTTP2_CANCEL.rawValue, context: context) }
        streams.removeAll()
        movable.removeAll()
        if let session { nghttp2_session_del(session) }
        session = nil
        io.tls?.shutdown()
        Glibc.close(io.fd)
        if let input { context.buffers.give(input) }
        if let output { context.buffers.give(output) }
        input = nil
        output = nil
        pending = nil
        runtime.metrics.active.decrement()
        listener.releaseConnection(on: context.loop)
        context.release(self)
    }

    // MARK: nghttp2's callbacks

    private static func owner(_ pointer: UnsafeMutableRawPointer?) -> HTTP2EngineConnection {
        Unmanaged<HTTP2EngineConnection>.fromOpaque(pointer!).takeUnretainedValue()
    }

    private static let onBeginHeaders: nghttp2_on_begin_headers_callback = { _, frame, user in
        guard let frame, frame.pointee.hd.type == UInt8(NGHTTP2_HEADERS.rawValue),
            frame.pointee.headers.cat == NGHTTP2_HCAT_REQUEST
        else { return 0 }
        return owner(user).beginStream(frame.pointee.hd.stream_id)
    }

    private static let onHeader: nghttp2_on_header_callback = {
        session, frame, name, nameLength, value, valueLength, _, _ in
        // Trailers are dropped: an HTTP/1.1 server gets the body without them.
        guard let session, let frame, let name, let value, frame.pointee.hd.type == UInt8(NGHTTP2_HEADERS.rawValue),
            frame.pointee.headers.cat == NGHTTP2_HCAT_REQUEST,
            let stream = nghttp2_session_get_stream_user_data(session, frame.pointee.hd.stream_id)
        else { return 0 }
        // Called for every field: the stream, which its connection holds, is borrowed, not retained.
        let accepted = Unmanaged<HTTP2Stream>.fromOpaque(stream)._withUnsafeGuaranteedRef {
            $0.addField(
                name: UnsafeRawBufferPointer(start: name, count: nameLength),
                value: UnsafeRawBufferPointer(start: value, count: valueLength))
        }
        return accepted ? 0 : NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue
    }

    private static let onFrame: nghttp2_on_frame_recv_callback = { _, frame, user in
        guard let frame else { return 0 }
        let connection = owner(user)
        connection.greeted = true
        let type = frame.pointee.hd.type
        let endStream = frame.pointee.hd.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0
        guard type == UInt8(NGHTTP2_HEADERS.rawValue) || type == UInt8(NGHTTP2_DATA.rawValue),
            let stream = connection.stream(frame.pointee.hd.stream_id)
        else { return 0 }
        if type == UInt8(NGHTTP2_HEADERS.rawValue) && frame.pointee.headers.cat == NGHTTP2_HCAT_REQUEST {
            stream.headersComplete(endStream: endStream, context: connection.context)
        } else if endStream {
            stream.requestBodyEnded()
        }
        return 0
    }

    private static let onData: nghttp2_on_data_chunk_recv_callback = { _, _, id, data, length, user in
        let connection = owner(user)
        guard let data, let stream = connection.stream(id) else {
            // A stream that ended already: its bytes still count against the connection's window.
            if let session = connection.session { _ = nghttp2_session_consume_connection(session, length) }
            return 0
        }
        if stream.responseSent && !stream.resetSent {
            stream.resetSent = true
            connection.reset(id, code: NGHTTP2_NO_ERROR)
        }
        stream.addBody(UnsafeRawBufferPointer(start: data, count: length))
        return 0
    }

    /// A response that ended before its request did: the client is asked to stop sending the
    /// rest with RST_STREAM(NO_ERROR) (RFC 9113 section 8.1) when its next DATA frame for the
    /// stream comes, not in the same write as the response's end, which curl 7.88 takes for a
    /// stream that closed before its response (error 92).
    private static let onFrameSent: nghttp2_on_frame_send_callback = { _, frame, user in
        guard let frame, frame.pointee.hd.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0,
            frame.pointee.hd.type == UInt8(NGHTTP2_DATA.rawValue)
                || frame.pointee.hd.type == UInt8(NGHTTP2_HEADERS.rawValue)
        else { return 0 }
        owner(user).stream(frame.pointee.hd.stream_id)?.responseSent = true
        return 0
    }

    private static let onStreamClose: nghttp2_on_stream_close_callback = { _, id, error, user in
        owner(user).streamClosed(id, error: error)
        return 0
    }

    private static let readBody: nghttp2_data_source_read_callback = { session, id, buffer, length, flags, _, _ in
        guard let session, let buffer, let flags, let pointer = nghttp2_session_get_stream_user_data(session, id) else {
            return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue)
        }
        return Unmanaged<HTTP2Stream>.fromOpaque(pointer)._withUnsafeGuaranteedRef {
            $0.provideBody(into: buffer, length: length, flags: flags)
        }
    }
}
