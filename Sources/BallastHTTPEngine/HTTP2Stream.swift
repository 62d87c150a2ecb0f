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

/// One HTTP/2 stream of a client connection on the engine, relayed as one HTTP/1.1 exchange:
/// its request head rebuilt as HTTP/1.1 and rewritten as any client's, its body sent as it
/// comes (chunked when the client gave no length), the server's response head turned into
/// HTTP/2 fields and its body handed to nghttp2 as the client's window opens.
final class HTTP2Stream: ServerLinkOwner {
    let id: Int32
    // unowned(unsafe): the connection holds its streams and ends every one (`closed`) before it
    // goes, and a stream is reached only through its connection's callbacks and server links.
    private unowned(unsafe) let connection: HTTP2EngineConnection
    // unowned(unsafe): the connection's runtime, which the connection holds for its life.
    private unowned(unsafe) let runtime: EngineHTTPRuntime

    // The request as it came (its fields are in the connection's `requestHead`).
    private var fieldBytes = 0
    private var tooLarge = false

    // The exchange with a server.
    private var httpMethod = HTTP1Method.other
    private var serverHead: [UInt8] = []
    private var serverHeadSent = 0
    /// Request body bytes for the server (chunk-framed when `chunked`), and how many of the
    /// client's bytes they hold that nghttp2 has not been told were taken.
    private var body: [UInt8] = []
    private var bodySent = 0
    private var bodyUnacknowledged = 0
    private var chunked = false
    private var requestEnded = false
    /// The response's last frame went out.
    var responseSent = false
    /// RST_STREAM(NO_ERROR) was sent after an early response.
    var resetSent = false
    private var bodyForwarded = false
    /// The server stopped taking the request (it may have answered early): nothing more is sent.
    private var sendFailed = false
    private var sticky: ServerKey?
    private var tried: [ServerKey] = []
    private var member: (key: ServerKey, server: Server)?
    private var userServer: (key: ServerKey, server: Server)?
    private var setCookie: [UInt8]?
    private var fresh = false
    private var freshRetryUsed = false
    private var link: ServerLink?
    private var connectDeadline: UInt64 = 0
    private var serverDeadline: UInt64 = 0
    private var delayedAnswer: (status: Int, headers: String, at: UInt64)?

    // The response.
    private var response: UnsafeMutableRawPointer?
    private var respStart = 0
    private var respEnd = 0
    /// Body bytes at `respStart` ready for nghttp2.
    private var respForwardable = 0
    private var responseProgress = HTTP1Head.Progress()
    private var responseHeadDone = false
    /// Everything the server will send for this response was read.
    private var responseEnded = false
    private var responseFraming = HTTP1BodyFraming.none
    private var responseRemaining: Int64 = 0
    private var responseChunks = HTTP1ChunkedScanner()
    private var serverKeepAlive = true
    /// nghttp2 asked for body bytes when there were none and waits to be resumed.
    private var deferred = false
    /// The body of an answer of Ballast's own.
    private var ownBody: [UInt8]?
    private var done = false
    /// The stream waits in its connection's list of streams to move.
    var queued = false

    init(id: Int32, connection: HTTP2EngineConnection) {
        self.id = id
        self.connection = connection
        runtime = connection.runtime
    }

    // MARK: The request head

    /// One header field of the request; pseudo-fields fill the HTTP/1.1 request line.
    func addField(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) -> Bool {
        fieldBytes += name.count + value.count + 32
        if fieldBytes > connection.limits.maxHeadBytes {
            tooLarge = true
            return true
        }
        connection.requestHead.add(name: name, value: value)
        return true
    }

    /// The request's head is whole: it is rebuilt as HTTP/1.1, rewritten and dispatched.
    func headersComplete(endStream: Bool, context: LoopContext) {
        requestEnded = endStream
        runtime.metrics.requests.increment()
        if tooLarge {
            refuse(
                HTTP1HeadError(status: 431, reason: "the request's header fields exceed max-header-bytes"),
                context: context)
            return
        }
        if connection.requestHead.isConnect {
            refuse(HTTP1HeadError(status: 501, reason: "CONNECT over HTTP/2"), context: context)
            return
        }
        guard let snapshot = runtime.snapshot(context) else {
            answer(status: 503, context: context)
            return
        }
        let relay = snapshot.relay
        chunked = !endStream && !connection.requestHead.hasContentLength
        connection.requestHead.build(chunked: chunked)
        let limits = HTTP1Limits(
            maxHeadBytes: connection.requestHead.text.count, maxFields: connection.limits.maxFields + 2)
        let routed: EngineHTTPRuntime.UserRoute?? = connection.requestHead.text.withUnsafeBytes { bytes in
            connection.heads.request.reset()
            if case .failed(let error) = HTTP1HeadScanner.scanRequest(
                bytes, into: &connection.heads.request, limits: limits)
            {
                refuse(error, context: context)
                return nil
            }
            let scanned = connection.heads.request
            httpMethod = scanned.method
            sticky = runtime.cookie?.server(in: bytes, head: scanned)
            let size = scanned.length + 2048
            serverHead = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
                count =
                    HTTP1HeadWriter.writeRequest(
                        bytes, head: scanned, policy: connection.policy, upgrade: false,
                        into: UnsafeMutableRawBufferPointer(buffer)
                    ) ?? 0
            }
            return .some(
                snapshot.http.userRouting.map {
                    runtime.route(
                        byUser: $0, bytes: bytes, head: scanned, client: connection.client, state: snapshot.state,
                        relay: relay)
                })
        }
        guard case .some(let route) = routed else { return }
        guard !serverHead.isEmpty else {
            refuse(HTTP1HeadError(status: 431, reason: "the rewritten head does not fit"), context: context)
            return
        }
        switch route {
        case nil:
            break
        case .server(let key, let server):
            userServer = (key, server)
        case .refuse(let status, let headers, let delay):
            if delay > 0 {
                delayedAnswer = (status, headers, context.now + delay)
                connection.want(context.now + delay, context: context)
            } else {
                answer(status: status, headers: headers, context: context)
            }
            return
        }
        dispatch(snapshot, context: context)
    }

    // MARK: The request body

    /// Body bytes of the request, held until a server takes them.
    func addBody(_ bytes: UnsafeRawBufferPointer) {
        guard !done, ownBody == nil, !responseEnded, !sendFailed else {
            // Nobody will read them: the client's window opens again at once.
            connection.consume(stream: id, count: bytes.count)
            return
        }
        if chunked {
            body.append(contentsOf: String(bytes.count, radix: 16).utf8)
            body.append(contentsOf: "\r\n".utf8)
            body.append(contentsOf: bytes)
            body.append(contentsOf: "\r\n".utf8)
        } else {
            body.append(contentsOf: bytes)
        }
        bodyUnacknowledged += bytes.count
        connection.queueMove(self)
    }

    func requestBodyEnded() {
        requestEnded = true
        if chunked && ownBody == nil && !done {
            body.append(contentsOf: "0\r\n\r\n".utf8)
            connection.queueMove(self)
        }
    }

    // MARK: Dispatch

    private func dispatch(_ snapshot: RelaySnapshot, context: LoopContext) {
        let relay = snapshot.relay
        guard
            let chosen = runtime.chooseServer(
                snapshot, client: connection.client, userServer: userServer, sticky: sticky, tried: tried)
        else {
            if !tried.isEmpty {
                answer(status: 502, context: context)
                return
            }
            runtime.metrics.noServer.increment()
            runtime.logger.warning("no server up", metadata: ["relay": "\(relay.name)", "pool": "\(relay.pool)"])
            answer(status: 503, context: context)
            return
        }
        setCookie = runtime.setCookie(for: chosen.key, sticky: sticky)
        member = chosen
        serverDeadline = context.now + connection.timeouts.server
        connection.want(serverDeadline, context: context)
        switch runtime.link(to: relay.target(for: chosen.server), fresh: fresh, owner: self, context: context) {
        case .success(let taken):
            link = taken
            if taken.phase == .connecting {
                connectDeadline = context.now + connection.timeouts.connect
                connection.want(connectDeadline, context: context)
            } else {
                connection.queueMove(self)
            }
        case .failure(let error):
            serverFailed(reason: error.description, connectFailed: true, context: context)
        }
    }

    func serverEvent(_ from: ServerLink, flags: UInt32, context: LoopContext) {
        guard from === link, !done else { return }
        if from.phase == .connecting {
            if flags & (EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0 {
                let code = ballast_socket_error(from.fd)
                serverFailed(
                    reason: SystemError.describe(code == 0 ? ECONNREFUSED : code), connectFailed: true, context: context
                )
                connection.pumpSoon(context)
                return
            }
            guard flags & EPOLLOUT.rawValue != 0 else { return }
            from.phase = .open
            connectDeadline = 0
        }
        connection.moveSoon(self, context: context)
    }

    // MARK: Moving bytes

    /// Sends what waits for the server and reads what it answered; true when bytes moved.
    func move(_ context: LoopContext) -> Bool {
        guard !done, let link, link.phase == .open else { return false }
        let sent = sendRequest(link, context)
        guard self.link === link, !done else { return true }
        return receiveResponse(link, context) || sent
    }

    private func sendRequest(_ link: ServerLink, _ context: LoopContext) -> Bool {
        let headLeft = serverHead.count - serverHeadSent
        let bodyLeft = body.count - bodySent
        guard headLeft + bodyLeft > 0, !sendFailed else { return false }
        let written = serverHead.withUnsafeBytes { head in
            body.withUnsafeBytes { body in
                link.io.write(
                    head.baseAddress! + serverHeadSent, headLeft, body.baseAddress.map { $0 + bodySent }, bodyLeft)
            }
        }
        if written > 0 {
            let fromHead = min(written, headLeft)
            serverHeadSent += fromHead
            if written > fromHead {
                bodySent += written - fromHead
                bodyForwarded = true
                if bodySent == body.count {
                    body.removeAll(keepingCapacity: true)
                    bodySent = 0
                    connection.consume(stream: id, count: bodyUnacknowledged)
                    bodyUnacknowledged = 0
                }
            }
            return true
        }
        if written == -Int(EAGAIN) || written == -Int(EWOULDBLOCK) { return false }
        if bodyForwarded {
            // A server may answer an upload early and stop reading it: its answer is read before
            // the failure counts.
            sendFailed = true
            link.readable = true
            dropBody()
            return true
        }
        serverFailed(reason: link.io.describe(Int32(-written)), connectFailed: false, context: context)
        return true
    }

    private func receiveResponse(_ link: ServerLink, _ context: LoopContext) -> Bool {
        var progressed = false
        var headIncomplete = false
        for _ in 0..<8 {
            if !responseHeadDone && respEnd > respStart && !headIncomplete {
                switch scanResponseHead(context) {
                case .incomplete:
                    headIncomplete = true
                    continue
                case .stopped:
                    return true
                case .scanned:
                    progressed = true
                    if responseEnded {
                        finishWithServer(context)
                        return true
                    }
                    continue
                }
            }
            if responseHeadDone && respEnd > respStart + respForwardable {
                takeBody()
                progressed = true
                if responseEnded {
                    finishWithServer(context)
                    return true
                }
                continue
            }
            guard link.readable else { break }
            if response == nil {
                response = connection.heads.streamBuffers.take()
                respStart = 0
                respEnd = 0
            } else if respStart == respEnd {
                respStart = 0
                respEnd = 0
            } else if respEnd == connection.heads.streamBuffers.size && respStart > 0 {
                response!.copyMemory(from: response! + respStart, byteCount: respEnd - respStart)
                respEnd -= respStart
                respStart = 0
            }
            let space = connection.heads.streamBuffers.size - respEnd
            guard space > 0 else {
                if !responseHeadDone {
                    serverFailed(reason: "response head larger than a buffer", connectFailed: false, context: context)
                    return true
                }
                break  // the client's window is shut; the server waits
            }
            let count = link.io.read(response! + respEnd, count: space)
            if count > 0 {
                respEnd += count
                progressed = true
                headIncomplete = false
                if link.drained(count: count, space: space) { link.readable = false }
                continue
            }
            if count == -Int(EAGAIN) || count == -Int(EWOULDBLOCK) {
                link.readable = false
                break
            }
            if count == 0 && responseHeadDone && responseFraming == .untilClose {
                responseEnded = true
                serverKeepAlive = false
                if deferred {
                    deferred = false
                    connection.resume(id)
                }
                finishWithServer(context)
                return true
            }
            serverFailed(
                reason: count == 0 ? "closed the connection" : link.io.describe(Int32(-count)), connectFailed: false,
                context: context)
            return true
        }
        return progressed
    }

    private enum HeadScan {
        case incomplete
        /// The exchange ended (a failure, a reset).
        case stopped
        case scanned
    }

    /// Scans the response head waiting in the buffer and submits it to nghttp2.
    private func scanResponseHead(_ context: LoopContext) -> HeadScan {
        let bytes = UnsafeRawBufferPointer(start: response! + respStart, count: respEnd - respStart)
        connection.heads.response.reset()
        connection.heads.response.progress = responseProgress
        let scanned = HTTP1HeadScanner.scanResponse(bytes, into: &connection.heads.response)
        responseProgress = scanned == .incomplete ? connection.heads.response.progress : HTTP1Head.Progress()
        switch scanned {
        case .incomplete:
            return .incomplete
        case .failed(let error):
            serverFailed(reason: "malformed response: \(error.reason)", connectFailed: false, context: context)
            return .stopped
        case .complete:
            break
        }
        let head = connection.heads.response
        respStart += head.length
        if head.status == 101 {
            serverFailed(reason: "101 to a request over HTTP/2", connectFailed: false, context: context)
            return .stopped
        }
        let fields = connection.fields
        fields.reset(status: head.status)
        for field in head.fields {
            switch field.known {
            case _ where field.known.isHopByHop, .transferEncoding:
                continue
            case .contentLength where head.hasTransferEncoding:
                continue
            default:
                fields.add(
                    lowercasing: UnsafeRawBufferPointer(rebasing: bytes[field.name]),
                    value: UnsafeRawBufferPointer(rebasing: bytes[field.value]))
            }
        }
        if head.status < 200 {
            // 100 Continue and the like go on as a HEADERS frame of their own; the final response follows.
            _ = fields.submitInterim(stream: id, connection: connection)
            return .scanned
        }
        responseHeadDone = true
        serverDeadline = 0
        serverKeepAlive = head.keepsAlive
        responseFraming = head.responseFraming(to: httpMethod)
        switch responseFraming {
        case .none: responseEnded = true
        case .length(let count): responseRemaining = count
        case .untilClose: serverKeepAlive = false
        case .chunked: break
        }
        if let setCookie {
            setCookie.withUnsafeBytes { fields.add(name: "set-cookie", value: $0) }
        }
        guard fields.submit(stream: id, connection: connection, body: responseFraming != .none) else {
            abandonLink(context)
            connection.reset(id, code: NGHTTP2_INTERNAL_ERROR)
            return .stopped
        }
        return .scanned
    }

    /// Decides how many of the bytes read after those ready belong to the body, by its framing.
    private func takeBody() {
        let from = respStart + respForwardable
        let available = respEnd - from
        guard available > 0 else { return }
        switch responseFraming {
        case .length:
            let take = Int(min(Int64(available), responseRemaining))
            respForwardable += take
            responseRemaining -= Int64(take)
            if responseRemaining == 0 { responseEnded = true }
            if take < available {
                // Bytes after the response that nobody asked for: this server connection is not reused.
                serverKeepAlive = false
                respEnd = from + take
            }
        case .chunked:
            let (progress, data) = responseChunks.decode(
                UnsafeMutableRawBufferPointer(start: response! + from, count: available))
            respForwardable += data
            respEnd = from + data
            switch progress {
            case .needMore: break
            case .ended: responseEnded = true
            case .failed:
                responseEnded = true
                serverKeepAlive = false
            }
        case .untilClose:
            respForwardable += available
        case .none:
            respEnd = from
            responseEnded = true
        }
        if deferred && (respForwardable > 0 || responseEnded) {
            deferred = false
            connection.resume(id)
        }
    }

    /// Copies ready body bytes into a DATA frame nghttp2 is making.
    func provideBody(into buffer: UnsafeMutablePointer<UInt8>, length: Int, flags: UnsafeMutablePointer<UInt32>) -> Int
    {
        if let own = ownBody {
            let count = min(length, own.count)
            own.withUnsafeBytes { buffer.update(from: $0.bindMemory(to: UInt8.self).baseAddress!, count: count) }
            ownBody = Array(own.dropFirst(count))
            if ownBody!.isEmpty { flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue }
            return count
        }
        let count = min(length, respForwardable)
        if count > 0 {
            UnsafeMutableRawPointer(buffer).copyMemory(from: response! + respStart, byteCount: count)
            respStart += count
            respForwardable -= count
            connection.noteActivity()
            // Room in the buffer: the server's next bytes may be read.
            connection.queueMove(self)
        }
        if respForwardable == 0 && responseEnded {
            flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
            return count
        }
        if count == 0 {
            deferred = true
            return Int(NGHTTP2_ERR_DEFERRED.rawValue)
        }
        return count
    }

    // MARK: The end of an exchange

    /// The whole response was read: the server connection goes back to the pool when it can
    /// serve again, or is closed.
    private func finishWithServer(_ context: LoopContext) {
        guard let link else { return }
        self.link = nil
        link.owner = nil
        if deferred {
            deferred = false
            connection.resume(id)
        }
        if serverKeepAlive && requestEnded && !sendFailed && body.isEmpty && serverHeadSent == serverHead.count
            && !link.peerClosed
        {
            runtime.pools[context.loop.index].put(
                link, capacity: runtime.poolCapacity, until: context.now + connection.timeouts.serverIdle,
                context: context)
        } else {
            link.close(context: context)
        }
        if !requestEnded { dropBody() }
    }

    /// The request body will not be sent: what is held is acknowledged and let go.
    private func dropBody() {
        connection.consume(stream: id, count: bodyUnacknowledged)
        bodyUnacknowledged = 0
        body = []
        bodySent = 0
    }

    /// nghttp2 closed the stream: ended both ways, reset by the client, or the connection ends.
    func closed(error: UInt32, context: LoopContext) {
        guard !done else { return }
        done = true
        if let link {
            self.link = nil
            link.owner = nil
            link.close(context: context)
        }
        if let response { connection.heads.streamBuffers.give(response) }
        response = nil
        dropBody()
    }

    /// When this stream's timer is next due, acting on what came due now.
    func timerFired(now: UInt64, context: LoopContext) -> UInt64? {
        guard !done else { return nil }
        if let delayed = delayedAnswer {
            guard now >= delayed.at else { return delayed.at }
            delayedAnswer = nil
            answer(status: delayed.status, headers: delayed.headers, context: context)
            return nil
        }
        var next: UInt64?
        if let link, link.phase == .connecting, connectDeadline != 0 {
            if now >= connectDeadline {
                serverFailed(reason: "connect timed out", connectFailed: true, context: context)
                return timerFired(now: now, context: context)
            }
            next = connectDeadline
        }
        if serverDeadline != 0 && !responseHeadDone && link != nil {
            if now >= serverDeadline {
                runtime.metrics.serverFailures.increment()
                runtime.logger.warning(
                    "server did not answer in time",
                    metadata: ["relay": "\(runtime.relayName)", "server": "\(member.map { "\($0.key)" } ?? "-")"])
                answer(status: 504, context: context)
                return nil
            }
            next = min(next ?? .max, serverDeadline)
        }
        return next
    }

    // MARK: Failures and answers of Ballast's own

    private func refuse(_ error: HTTP1HeadError, context: LoopContext) {
        runtime.metrics.badRequests.increment()
        BadInputLog.shared.report(
            listener: runtime.relayName, reason: "malformed request", client: "\(connection.client)",
            logger: runtime.logger,
            detail: error.reason)
        answer(status: error.status, context: context)
    }

    /// Answers the stream with a short text of Ballast's own; `headers` are extra lines.
    private func answer(status: Int, headers: String = "", context: LoopContext) {
        abandonLink(context)
        dropBody()
        let text = CannedResponse.text(status: status)
        let fields = connection.fields
        fields.reset(status: status)
        fields.add(lowercasing: "content-type".utf8, value: "text/plain; charset=utf-8".utf8)
        for line in headers.split(separator: "\r\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields.add(
                lowercasing: line[..<colon].utf8, value: line[line.index(after: colon)...].drop { $0 == " " }.utf8)
        }
        fields.add(lowercasing: "content-length".utf8, value: String(text.count).utf8)
        ownBody = text
        responseHeadDone = true
        if !fields.submit(stream: id, connection: connection, body: true) {
            connection.reset(id, code: NGHTTP2_INTERNAL_ERROR)
        }
    }

    private func abandonLink(_ context: LoopContext) {
        guard let link else { return }
        self.link = nil
        link.owner = nil
        link.close(context: context)
        if let response { connection.heads.streamBuffers.give(response) }
        response = nil
        respStart = 0
        respEnd = 0
        respForwardable = 0
        responseProgress = HTTP1Head.Progress()
    }

    /// The server failed before the response was whole: as for an HTTP/1.1 client, once more
    /// on a fresh connection when a kept-alive one was closed under the request, once elsewhere
    /// when the request can be sent again, else 502; a response under way is reset.
    private func serverFailed(reason: String, connectFailed: Bool, context: LoopContext) {
        let reused = link?.reused ?? false
        abandonLink(context)
        if responseHeadDone {
            connection.reset(id, code: NGHTTP2_INTERNAL_ERROR)
            return
        }
        let replayable = !bodyForwarded
        guard let snapshot = runtime.snapshot(context) else {
            answer(status: 503, context: context)
            return
        }
        serverHeadSent = 0
        connectDeadline = 0
        if reused && replayable && !freshRetryUsed && !connectFailed {
            freshRetryUsed = true
            fresh = true
            sticky = member?.key
            dispatch(snapshot, context: context)
            return
        }
        fresh = false
        runtime.serverFailed(member, reason: reason, connectFailed: connectFailed, snapshot)
        if let member { tried.append(member.key) }
        if tried.count < 2 && replayable && (httpMethod.isIdempotent || connectFailed) {
            runtime.metrics.retries.increment()
            sticky = nil
            dispatch(snapshot, context: context)
        } else {
            answer(status: 502, context: context)
        }
    }
}
