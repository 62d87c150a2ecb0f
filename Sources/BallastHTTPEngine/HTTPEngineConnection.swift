import BallastCodecs
import BallastCore
import BallastEngine
import BallastReporting
import BallastTLS
import CBallastLinux
import CoreMetrics
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// One client's HTTP/1.1 connection on an engine loop: requests read and scanned in place,
/// each balanced on its own and sent to a server connection taken from the loop's pool,
/// responses forwarded by their framing. One request is in flight at a time; pipelined ones
/// wait in the read buffer. A head goes out with the body bytes read with it in one system
/// call, and bodies are never copied in user space.
final class HTTPEngineConnection: EngineConnection, ServerLinkOwner {
    private enum Phase {
        case awaitingHead
        case exchanging
        case upgraded
        case closed
    }

    /// One request and its response.
    private struct Exchange {
        var method = HTTP1Method.other
        var clientMinorVersion = 1
        /// The response is chunked and the client reads no chunks: the relay decodes them.
        var dechunk = false
        var keepAlive = true
        var upgrade = false
        var sticky: ServerKey?
        var tried: [ServerKey] = []
        var member: (key: ServerKey, server: Server)?
        /// The server holding the user's mailbox, on relays that route by user.
        var userServer: (key: ServerKey, server: Server)?
        var setCookie: [UInt8]?
        var fresh = false
        var requestFraming = HTTP1BodyFraming.none
        var requestRemaining: Int64 = 0
        var requestChunks = HTTP1ChunkedScanner()
        var requestEnded = false
        /// Bytes at the start of the input that belong to the request body and wait to be sent.
        var bodyPending = 0
        var bodyForwarded = false
        var responseHeadDone = false
        var responseStarted = false
        var responseFraming = HTTP1BodyFraming.none
        var responseRemaining: Int64 = 0
        var responseChunks = HTTP1ChunkedScanner()
        var responseEnded = false
        var serverKeepAlive = true
        var freshRetryUsed = false
        var switching = false
        var connectDeadline: UInt64 = 0
        var serverDeadline: UInt64 = 0
        /// An answer of Ballast's own is being written; no server is involved.
        var ownAnswer = false
    }

    let slot: Int
    let listener: EngineHTTPListener
    var listenerID: Int { listener.id }
    private(set) var deadline: UInt64 = 0
    private let runtime: EngineHTTPRuntime
    /// The client's socket, with TLS on https relays.
    private let io: SocketIO
    private var tls: TLSConnection? { io.tls }
    private let client: IPAddress
    private var phase = Phase.awaitingHead
    private var policy: HTTP1RequestPolicy?
    private var limits = HTTP1Limits()
    private var timeouts = HTTPTimeouts()

    // The client's bytes: one pooled buffer while any wait.
    private var input: UnsafeMutableRawPointer?
    private var inStart = 0
    private var inEnd = 0
    private var clientReadable = true
    private var clientEnded = false
    /// The request and response heads being scanned, shared by the loop's connections: a head
    /// is scanned and used within one event, so an idle connection keeps no field storage,
    /// only how far the search for its head's end got.
    private let heads: HTTPLoopHeads
    private var head: HTTP1Head {
        _read { yield heads.request }
        _modify { yield &heads.request }
    }
    private var headProgress = HTTP1Head.Progress()
    /// When the clock for the next head started: the connection's start for the first, the
    /// first byte for later ones; 0 during an exchange and the keep-alive wait.
    private var headFirstByteAt: UInt64 = 0
    /// Whether any byte of the awaited head came.
    private var spoke = false
    private var lastActivity: UInt64 = 0
    /// A refusal held back until its time (the failure delay after a wrong password).
    private var delayedAnswer: (status: Int, headers: String, at: UInt64)?

    // Bytes for the client: a head of the relay's making (owned), then body bytes in `response`.
    private var outHead: PendingBytes?
    private var watchingWritable = false

    // The exchange in flight and the server connection it uses.
    private var exchange = Exchange()
    private var link: ServerLink?
    private var serverHead: UnsafeMutableRawPointer?
    private var serverHeadCount = 0
    private var serverHeadSent = 0
    private var response: UnsafeMutableRawPointer?
    private var respStart = 0
    private var respEnd = 0
    /// Bytes at `respStart` that belong to the response body and wait to be written.
    private var respForwardable = 0
    private var responseHead: HTTP1Head {
        _read { yield heads.response }
        _modify { yield &heads.response }
    }
    private var responseProgress = HTTP1Head.Progress()

    private static let maxRounds = 64

    init(
        slot: Int, listener: EngineHTTPListener, runtime: EngineHTTPRuntime, fd: Int32, client: Endpoint?,
        heads: HTTPLoopHeads
    ) {
        self.slot = slot
        self.heads = heads
        self.listener = listener
        self.runtime = runtime
        io = SocketIO(fd: fd, tls: runtime.termination.flatMap { TLSConnection(accepting: fd, context: $0) })
        self.client = client?.address ?? IPAddress(v4: 0, 0, 0, 0)
    }

    // MARK: Events

    func start(context: LoopContext) {
        runtime.metrics.connections.increment()
        runtime.metrics.active.increment()
        lastActivity = context.now
        headFirstByteAt = context.now
        if runtime.termination != nil && tls == nil {
            runtime.logger.warning("cannot start TLS for a client", metadata: ["relay": "\(runtime.relayName)"])
            close(context: context)
            return
        }
        if let snapshot = runtime.snapshot(context) { read(snapshot) }
        let first = min(timeouts.request, timeouts.idle)
        want(context.now + (tls == nil ? first : min(first, timeouts.handshake)), context: context)
        pump(context)
    }

    func handle(side: ConnectionSide, flags: UInt32, context: LoopContext) {
        guard phase != .closed else { return }
        if flags & (EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0 {
            close(context: context)  // reset, or gone both ways
            return
        }
        if flags & (EPOLLIN.rawValue | EPOLLRDHUP.rawValue) != 0 { clientReadable = true }
        // A TLS read may wait for room to write (a handshake message).
        if tls != nil && flags & EPOLLOUT.rawValue != 0 { clientReadable = true }
        pump(context)
    }

    /// An event on the server connection this client holds.
    func serverEvent(_ from: ServerLink, flags: UInt32, context: LoopContext) {
        guard from === link, phase != .closed else { return }
        if from.phase == .connecting {
            if flags & (EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0 {
                let code = ballast_socket_error(from.fd)
                serverFailed(
                    reason: SystemError.describe(code == 0 ? ECONNREFUSED : code), connectFailed: true, context: context
                )
                pump(context)
                return
            }
            guard flags & EPOLLOUT.rawValue != 0 else { return }
            from.phase = .open
        }
        pump(context)
    }

    func continueMoving(context: LoopContext) { pump(context) }

    func continueAfterPoll(context: LoopContext) {}

    /// Moves whatever can move until nothing can, a bounded number of rounds per event so
    /// that one busy connection does not starve the loop's others.
    private func pump(_ context: LoopContext) {
        for _ in 0..<Self.maxRounds {
            let progressed: Bool
            switch phase {
            case .awaitingHead:
                progressed = readHead(context)
            case .exchanging:
                let sent = moveRequest(context)
                let answered = phase == .exchanging && moveResponse(context)
                progressed = sent || answered
            case .upgraded:
                progressed = relayUpgraded(context)
            case .closed:
                return
            }
            if !progressed { return }
        }
        context.markReady(self)
    }

    // MARK: Request heads

    private func readHead(_ context: LoopContext) -> Bool {
        var prefaceIncomplete = false
        if policy == nil {
            switch speaksHTTP2() {
            case .yes:
                switchToHTTP2(context)
                return false
            case .maybe:
                prefaceIncomplete = true
            case .no:
                break
            }
        }
        if inEnd > inStart && !prefaceIncomplete {
            let bytes = UnsafeRawBufferPointer(start: input! + inStart, count: inEnd - inStart)
            head.reset()
            head.progress = headProgress
            switch HTTP1HeadScanner.scanRequest(bytes, into: &head, limits: limits) {
            case .complete:
                headProgress = HTTP1Head.Progress()
                begin(context)
                return true
            case .failed(let error):
                headProgress = HTTP1Head.Progress()
                refuse(error, context: context)
                return true
            case .incomplete:
                headProgress = head.progress
            }
        }
        if clientEnded {
            if inEnd > inStart {
                BadInputLog.shared.report(
                    listener: runtime.relayName, reason: "request head cut short by the client", client: "\(client)",
                    logger: runtime.logger)
            }
            close(context: context)
            return false
        }
        guard clientReadable else { return false }
        return readClient(context)
    }

    // MARK: HTTP/2

    private enum HTTP2Check {
        case yes
        case no
        /// The bytes so far begin the h2c preface.
        case maybe
    }

    /// The connection preface of an HTTP/2 client (RFC 9113 section 3.4).
    private static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    /// Whether the client speaks HTTP/2: ALPN chose `h2`, or on a plain relay its first bytes
    /// are the preface (h2c by prior knowledge).
    private func speaksHTTP2() -> HTTP2Check {
        if let tls {
            return tls.isEstablished && tls.negotiatedProtocol == "h2" ? .yes : .no
        }
        let available = inEnd - inStart
        guard available > 0, let input else { return .no }
        let compared = min(available, Self.preface.count)
        for index in 0..<compared
        where input.load(fromByteOffset: inStart + index, as: UInt8.self) != Self.preface[index] {
            return .no
        }
        return compared == Self.preface.count ? .yes : .maybe
    }

    /// Hands the socket and the bytes read so far to an HTTP/2 connection, which takes this
    /// one's place in the loop.
    private func switchToHTTP2(_ context: LoopContext) {
        phase = .closed
        let relay = runtime.snapshot(context)?.relay
        let successor = context.adopt(client: true) { [listener, runtime, io, client, heads] slot in
            HTTP2EngineConnection(
                slot: slot, listener: listener, runtime: runtime, io: io, client: client, heads: heads, relay: relay,
                context: context)
        }
        _ = ballast_epoll_modify(
            context.loop.epollFD, io.fd, EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLET.rawValue,
            context.tag(slot: successor.slot, side: .front))
        let started = successor.start(
            with: UnsafeRawBufferPointer(start: input.map { $0 + inStart }, count: inEnd - inStart),
            startedAt: headFirstByteAt,
            context: context)
        if let input { context.buffers.give(input) }
        if let serverHead { context.buffers.give(serverHead) }
        input = nil
        serverHead = nil
        context.release(self)
        if !started { successor.close(context: context) }
    }

    /// Reads from the client after the bytes already waiting; true when something happened.
    private func readClient(_ context: LoopContext) -> Bool {
        let size = context.buffers.size
        Self.makeRoom(&input, start: &inStart, end: &inEnd, buffers: &context.buffers)
        let space = size - inEnd
        guard space > 0 else { return false }
        let count = io.read(input! + inEnd, count: space)
        if count > 0 {
            if phase == .awaitingHead && !spoke {
                spoke = true
                if headFirstByteAt == 0 { headFirstByteAt = context.now }
                want(headFirstByteAt + timeouts.request, context: context)
            }
            inEnd += count
            lastActivity = context.now
            if io.drained(count: count, space: space) { clientReadable = false }
            return true
        }
        if count == 0 {
            clientEnded = true
            return true
        }
        if count == -Int(EAGAIN) || count == -Int(EWOULDBLOCK) {
            clientReadable = false
            if tls?.wantsWritable == true { watchWritable(context) }
            return false
        }
        if let tls, count == -Int(EPROTO) { reportTLSFailure(tls) }
        close(context: context)
        return false
    }

    /// A handshake that failed is the client's bad input (an old client, a scanner, a wrong
    /// certificate); one that failed later is a broken connection.
    private func reportTLSFailure(_ tls: TLSConnection) {
        guard !tls.isEstablished else { return }
        runtime.metrics.handshakeFailures.increment()
        BadInputLog.shared.report(
            listener: runtime.relayName, reason: "TLS handshake failed", client: "\(client)", logger: runtime.logger,
            detail: tls.failure)
    }

    /// Readies a read buffer for more bytes after those waiting in `start..<end`: takes one from
    /// the pool when there is none, rewinds an empty one, and moves waiting bytes to the front of
    /// a full one (the scanners' offsets are relative to `start`, so they stay valid).
    private static func makeRoom(
        _ buffer: inout UnsafeMutableRawPointer?, start: inout Int, end: inout Int, buffers: inout BufferPool
    ) {
        guard let bytes = buffer else {
            buffer = buffers.take()
            start = 0
            end = 0
            return
        }
        if start == end {
            start = 0
            end = 0
        } else if start > 0 && end == buffers.size {
            bytes.copyMemory(from: bytes + start, byteCount: end - start)
            end -= start
            start = 0
        }
    }

    private func refuse(_ error: HTTP1HeadError, context: LoopContext) {
        runtime.metrics.badRequests.increment()
        BadInputLog.shared.report(
            listener: runtime.relayName, reason: "malformed request", client: "\(client)", logger: runtime.logger,
            detail: error.reason)
        answer(status: error.status, close: true, context: context)
    }

    private func read(_ snapshot: RelaySnapshot) {
        limits = HTTP1Limits(maxHeadBytes: snapshot.http.maxHeaderBytes, maxFields: 100)
        timeouts = HTTPTimeouts(snapshot.relay, http: snapshot.http)
    }

    // MARK: Dispatch

    private func begin(_ context: LoopContext) {
        runtime.metrics.requests.increment()
        guard let snapshot = runtime.snapshot(context) else {
            answer(status: 503, close: true, context: context)
            return
        }
        let relay = snapshot.relay
        if policy == nil {
            policy = HTTP1RequestPolicy(
                settings: snapshot.http, client: client, relayAddress: relay.listen, isTLS: tls != nil,
                cookieName: runtime.cookie.map { String(decoding: $0.name, as: UTF8.self) })
        }
        let bytes = UnsafeRawBufferPointer(start: input! + inStart, count: inEnd - inStart)
        exchange = Exchange()
        exchange.method = head.method
        exchange.clientMinorVersion = head.minorVersion
        exchange.keepAlive = head.keepsAlive
        exchange.upgrade = head.hasUpgrade && head.connectionUpgrade
        exchange.requestFraming = head.requestFraming
        exchange.sticky = runtime.cookie?.server(in: bytes, head: head)
        switch exchange.requestFraming {
        case .length(let length): exchange.requestRemaining = length
        case .none: exchange.requestEnded = true
        case .chunked, .untilClose: break
        }
        if serverHead == nil { serverHead = context.buffers.take() }
        guard
            let count = HTTP1HeadWriter.writeRequest(
                bytes, head: head, policy: policy!, upgrade: exchange.upgrade,
                into: UnsafeMutableRawBufferPointer(start: serverHead, count: context.buffers.size))
        else {
            refuse(HTTP1HeadError(status: 431, reason: "the rewritten head does not fit a buffer"), context: context)
            return
        }
        serverHeadCount = count
        serverHeadSent = 0
        let routed = snapshot.http.userRouting.map {
            runtime.route(byUser: $0, bytes: bytes, head: head, client: client, state: snapshot.state, relay: relay)
        }
        inStart += head.length
        headFirstByteAt = 0
        spoke = false
        phase = .exchanging
        switch routed {
        case nil:
            break
        case .server(let key, let server):
            exchange.userServer = (key, server)
        case .refuse(let status, let headers, let delay):
            if delay > 0 {
                delayedAnswer = (status, headers, context.now + delay)
                want(context.now + delay, context: context)
            } else {
                answer(status: status, close: false, headers: headers, context: context)
            }
            return
        }
        dispatch(snapshot, context: context)
    }

    private func dispatch(_ snapshot: RelaySnapshot, context: LoopContext) {
        let relay = snapshot.relay
        guard
            let member = runtime.chooseServer(
                snapshot, client: client, userServer: exchange.userServer, sticky: exchange.sticky,
                tried: exchange.tried)
        else {
            if !exchange.tried.isEmpty {
                answer(status: 502, close: true, context: context)
                return
            }
            runtime.metrics.noServer.increment()
            runtime.logger.warning("no server up", metadata: ["relay": "\(relay.name)", "pool": "\(relay.pool)"])
            answer(status: 503, close: !exchange.keepAlive || !exchange.requestEnded, context: context)
            return
        }
        exchange.setCookie = runtime.setCookie(for: member.key, sticky: exchange.sticky)
        exchange.member = member
        exchange.serverDeadline = context.now + timeouts.server
        switch runtime.link(to: relay.target(for: member.server), fresh: exchange.fresh, owner: self, context: context)
        {
        case .success(let taken):
            link = taken
            if taken.phase == .connecting {
                exchange.connectDeadline = context.now + timeouts.connect
                want(exchange.connectDeadline, context: context)
            }
        case .failure(let error):
            serverFailed(reason: error.description, connectFailed: true, context: context)
        }
    }

    // MARK: Client to server

    private func moveRequest(_ context: LoopContext) -> Bool {
        guard let link, link.phase == .open, !exchange.ownAnswer, !exchange.switching else { return false }
        if exchange.bodyPending == 0 && !exchange.requestEnded && inEnd > inStart {
            let available = inEnd - inStart
            switch exchange.requestFraming {
            case .length:
                let take = Int(min(Int64(available), exchange.requestRemaining))
                exchange.bodyPending = take
                exchange.requestRemaining -= Int64(take)
                if exchange.requestRemaining == 0 { exchange.requestEnded = true }
            case .chunked:
                switch exchange.requestChunks.consume(UnsafeRawBufferPointer(start: input! + inStart, count: available))
                {
                case .needMore:
                    exchange.bodyPending = available
                case .ended(let consumed):
                    exchange.bodyPending = consumed
                    exchange.requestEnded = true
                case .failed(let reason):
                    BadInputLog.shared.report(
                        listener: runtime.relayName, reason: "malformed chunked request body", client: "\(client)",
                        logger: runtime.logger, detail: reason)
                    runtime.metrics.badRequests.increment()
                    if exchange.responseStarted {
                        close(context: context)
                    } else {
                        abandonLink(context)
                        answer(status: 400, close: true, context: context)
                    }
                    return true
                }
            case .none, .untilClose:
                exchange.requestEnded = true
            }
        }
        let headLeft = serverHeadCount - serverHeadSent
        if headLeft == 0 && exchange.bodyPending == 0 {
            guard !exchange.requestEnded, clientReadable, !clientEnded else {
                if clientEnded && !exchange.requestEnded {
                    BadInputLog.shared.report(
                        listener: runtime.relayName, reason: "request cut short by the client", client: "\(client)",
                        logger: runtime.logger)
                    close(context: context)
                }
                return false
            }
            return readClient(context)
        }
        let written = link.io.write(
            serverHead! + serverHeadSent, headLeft, input.map { $0 + inStart }, exchange.bodyPending)
        if written > 0 {
            let fromHead = min(written, headLeft)
            serverHeadSent += fromHead
            let fromBody = written - fromHead
            if fromBody > 0 {
                exchange.bodyForwarded = true
                inStart += fromBody
                exchange.bodyPending -= fromBody
            }
            return true
        }
        if written == -Int(EAGAIN) || written == -Int(EWOULDBLOCK) { return false }
        serverFailed(reason: link.io.describe(Int32(-written)), connectFailed: false, context: context)
        return true
    }

    // MARK: Server to client

    private func moveResponse(_ context: LoopContext) -> Bool {
        if outHead != nil || respForwardable > 0 { return flushToClient(context) }
        if exchange.responseEnded {
            if exchange.switching {
                phase = .upgraded
                exchange.serverDeadline = 0
                return true
            }
            finishExchange(context)
            return true
        }
        guard let link, link.phase == .open else { return false }
        if respEnd > respStart {
            if !exchange.responseHeadDone { return scanResponseHead(context) }
            decideResponseBody()
            return true
        }
        guard link.readable else { return false }
        return readServer(link, context)
    }

    private func scanResponseHead(_ context: LoopContext) -> Bool {
        let bytes = UnsafeRawBufferPointer(start: response! + respStart, count: respEnd - respStart)
        responseHead.reset()
        responseHead.progress = responseProgress
        let scanned = HTTP1HeadScanner.scanResponse(bytes, into: &responseHead)
        responseProgress = scanned == .incomplete ? responseHead.progress : HTTP1Head.Progress()
        switch scanned {
        case .incomplete:
            guard let link, link.readable || link.peerClosed else { return false }
            return readServer(link, context)
        case .failed(let error):
            serverFailed(reason: "malformed response: \(error.reason)", connectFailed: false, context: context)
            return true
        case .complete:
            break
        }
        let status = responseHead.status
        let length = responseHead.length
        var close = false
        var setCookie: [UInt8]?
        if status == 101 {
            guard exchange.upgrade else {
                serverFailed(
                    reason: "101 to a request that asked for no upgrade", connectFailed: false, context: context)
                return true
            }
            exchange.switching = true
            exchange.responseEnded = true
            exchange.responseStarted = true
        } else if status < 200 {
            // Interim (100 Continue and the like): passed on, the final response follows.
        } else {
            exchange.responseHeadDone = true
            exchange.responseStarted = true
            exchange.serverDeadline = 0
            exchange.serverKeepAlive = responseHead.keepsAlive
            exchange.responseFraming = responseHead.responseFraming(to: exchange.method)
            switch exchange.responseFraming {
            case .none: exchange.responseEnded = true
            case .length(let count): exchange.responseRemaining = count
            case .untilClose: exchange.keepAlive = false
            case .chunked: break
            }
            if exchange.responseFraming == .chunked && exchange.clientMinorVersion == 0 {
                // An HTTP/1.0 client reads no chunks: the body ends when the connection does.
                exchange.dechunk = true
                exchange.keepAlive = false
            }
            if !exchange.requestEnded { exchange.keepAlive = false }
            close = !exchange.keepAlive
            setCookie = exchange.setCookie
        }
        let buffer = context.buffers.take()
        guard
            let count = HTTP1HeadWriter.writeResponse(
                bytes, head: responseHead, setCookie: setCookie, close: close,
                clientMinorVersion: exchange.clientMinorVersion, dechunked: exchange.dechunk,
                into: UnsafeMutableRawBufferPointer(start: buffer, count: context.buffers.size))
        else {
            context.buffers.give(buffer)
            serverFailed(reason: "response head too large", connectFailed: false, context: context)
            return true
        }
        outHead = PendingBytes(buffer: buffer, start: 0, end: count)
        respStart += length
        if status < 200 && status != 101 {
            responseProgress = HTTP1Head.Progress()
        } else if exchange.responseHeadDone && !exchange.responseEnded && respEnd > respStart {
            // The body bytes read with the head leave with it, in one write.
            decideResponseBody()
        }
        return true
    }

    /// How many of the response bytes waiting belong to the body, by its framing.
    private func decideResponseBody() {
        let available = respEnd - respStart
        switch exchange.responseFraming {
        case .length:
            let take = Int(min(Int64(available), exchange.responseRemaining))
            respForwardable = take
            exchange.responseRemaining -= Int64(take)
            if exchange.responseRemaining == 0 { exchange.responseEnded = true }
        case .chunked where exchange.dechunk:
            let (progress, data) = exchange.responseChunks.decode(
                UnsafeMutableRawBufferPointer(start: response! + respStart, count: available))
            respForwardable = data
            respEnd = respStart + data
            if case .needMore = progress { return }
            // Ended, or broken: either way the connection closes after what was decoded.
            exchange.responseEnded = true
            exchange.serverKeepAlive = false
            return
        case .chunked:
            switch exchange.responseChunks.consume(
                UnsafeRawBufferPointer(start: response! + respStart, count: available))
            {
            case .needMore:
                respForwardable = available
            case .ended(let consumed):
                respForwardable = consumed
                exchange.responseEnded = true
            case .failed:
                // The server's framing broke: what went out cannot be completed.
                exchange.serverKeepAlive = false
                exchange.keepAlive = false
                respForwardable = available
                exchange.responseEnded = true
            }
        case .untilClose:
            respForwardable = available
        case .none:
            exchange.responseEnded = true
        }
        if exchange.responseEnded && respForwardable < available {
            // Bytes after the response that nobody asked for: this server connection is not reused.
            exchange.serverKeepAlive = false
            respEnd = respStart + respForwardable
        }
    }

    private func readServer(_ link: ServerLink, _ context: LoopContext) -> Bool {
        let size = context.buffers.size
        Self.makeRoom(&response, start: &respStart, end: &respEnd, buffers: &context.buffers)
        let space = size - respEnd
        guard space > 0 else {
            serverFailed(reason: "response head larger than a buffer", connectFailed: false, context: context)
            return true
        }
        let count = link.io.read(response! + respEnd, count: space)
        if count > 0 {
            respEnd += count
            lastActivity = context.now
            if link.drained(count: count, space: space) { link.readable = false }
            return true
        }
        if count == -Int(EAGAIN) || count == -Int(EWOULDBLOCK) {
            link.readable = false
            return false
        }
        if count == 0 && exchange.responseHeadDone && exchange.responseFraming == .untilClose {
            exchange.responseEnded = true
            exchange.serverKeepAlive = false
            return true
        }
        serverFailed(
            reason: count == 0 ? "closed the connection" : link.io.describe(Int32(-count)), connectFailed: false,
            context: context)
        return true
    }

    private func flushToClient(_ context: LoopContext) -> Bool {
        let headLeft = outHead.map { $0.count } ?? 0
        let written = io.write(
            outHead.map { UnsafeRawPointer($0.buffer + $0.start) }, headLeft,
            response.map { UnsafeRawPointer($0 + respStart) },
            respForwardable)
        if written > 0 {
            let fromHead = min(written, headLeft)
            if fromHead > 0 {
                outHead!.start += fromHead
                if outHead!.count == 0 {
                    context.buffers.give(outHead!.buffer)
                    outHead = nil
                }
            }
            let fromBody = written - fromHead
            respStart += fromBody
            respForwardable -= fromBody
            lastActivity = context.now
            return true
        }
        if written == -Int(EAGAIN) || written == -Int(EWOULDBLOCK) {
            watchWritable(context)
            return false
        }
        close(context: context)
        return false
    }

    private func watchWritable(_ context: LoopContext) {
        guard !watchingWritable else { return }
        watchingWritable = true
        io.watchWritable(slot: slot, context: context)
    }

    // MARK: The end of an exchange

    private func finishExchange(_ context: LoopContext) {
        if let link {
            link.owner = nil
            if exchange.serverKeepAlive && exchange.requestEnded && !exchange.upgrade && !link.peerClosed
                && respStart == respEnd
            {
                runtime.pools[context.loop.index].put(
                    link, capacity: runtime.poolCapacity, until: context.now + timeouts.serverIdle, context: context)
            } else {
                link.close(context: context)
            }
        }
        link = nil
        if respStart == respEnd, let buffer = response {
            context.buffers.give(buffer)
            response = nil
        }
        let keep = exchange.keepAlive && exchange.requestEnded && !clientEnded
        exchange = Exchange()
        headProgress = HTTP1Head.Progress()
        responseProgress = HTTP1Head.Progress()
        guard keep else {
            close(context: context)
            return
        }
        phase = .awaitingHead
        if inStart == inEnd, let buffer = input {
            context.buffers.give(buffer)
            input = nil
        } else {
            // A pipelined request waits already: its clock starts now.
            headFirstByteAt = context.now
            spoke = true
        }
        if let buffer = serverHead {
            context.buffers.give(buffer)
            serverHead = nil
        }
        lastActivity = context.now
        want(context.now + min(timeouts.keepAlive, timeouts.request, timeouts.idle), context: context)
    }

    /// Writes an answer of Ballast's own, then closes or takes the next request.
    private func answer(status: Int, close: Bool, headers: String = "", context: LoopContext) {
        abandonLink(context)
        let mustClose = close || !exchange.requestEnded || !exchange.keepAlive
        let bytes = CannedResponse.bytes(status: status, close: mustClose, headers: headers)
        if let outHead { context.buffers.give(outHead.buffer) }
        let buffer = context.buffers.take()
        bytes.withUnsafeBytes { buffer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        outHead = PendingBytes(buffer: buffer, start: 0, end: bytes.count)
        respForwardable = 0
        respStart = respEnd
        let requestEnded = exchange.requestEnded
        exchange = Exchange()
        exchange.ownAnswer = true
        exchange.responseEnded = true
        exchange.requestEnded = requestEnded && !mustClose
        exchange.keepAlive = !mustClose
        phase = .exchanging
    }

    private func abandonLink(_ context: LoopContext) {
        guard let link else { return }
        self.link = nil
        link.owner = nil
        link.close(context: context)
        respStart = 0
        respEnd = 0
        respForwardable = 0
        responseProgress = HTTP1Head.Progress()
    }

    /// The server failed before its response was complete: once more on a fresh connection
    /// when a kept-alive one was closed under the request, once elsewhere when the request can
    /// be sent again, else 502 (or a cut connection once the response began).
    private func serverFailed(reason: String, connectFailed: Bool, context: LoopContext) {
        let reused = link?.reused ?? false
        abandonLink(context)
        exchange.responseHeadDone = false
        if exchange.responseStarted {
            close(context: context)
            return
        }
        if let outHead {
            context.buffers.give(outHead.buffer)
            self.outHead = nil
        }
        let replayable = !exchange.bodyForwarded && !exchange.upgrade
        guard let snapshot = runtime.snapshot(context) else {
            answer(status: 503, close: true, context: context)
            return
        }
        serverHeadSent = 0
        exchange.connectDeadline = 0
        if reused && replayable && !exchange.freshRetryUsed && !connectFailed {
            exchange.freshRetryUsed = true
            exchange.fresh = true
            exchange.sticky = exchange.member?.key
            dispatch(snapshot, context: context)
            return
        }
        exchange.fresh = false
        runtime.serverFailed(exchange.member, reason: reason, connectFailed: connectFailed, snapshot)
        if let member = exchange.member { exchange.tried.append(member.key) }
        if exchange.tried.count < 2 && replayable && (exchange.method.isIdempotent || connectFailed) {
            runtime.metrics.retries.increment()
            exchange.sticky = nil
            dispatch(snapshot, context: context)
        } else {
            answer(status: 502, close: true, context: context)
        }
    }

    // MARK: Upgraded connections

    /// After a 101, bytes move both ways unchanged until either side ends.
    private func relayUpgraded(_ context: LoopContext) -> Bool {
        guard let link else {
            close(context: context)
            return false
        }
        var progressed = false
        // Client to server.
        if inEnd > inStart {
            let written = link.io.write(input! + inStart, inEnd - inStart, nil, 0)
            if written > 0 {
                inStart += written
                progressed = true
            } else if written != -Int(EAGAIN) && written != -Int(EWOULDBLOCK) {
                close(context: context)
                return false
            }
        } else if clientEnded {
            link.io.shutdownWrite()
            if link.peerClosed && respEnd == respStart { close(context: context); return false }
        } else if clientReadable {
            progressed = readClient(context) || progressed
        }
        if phase == .closed { return false }
        // Server to client.
        if respEnd > respStart {
            respForwardable = respEnd - respStart
            progressed = flushToClient(context) || progressed
        } else if link.readable {
            let size = context.buffers.size
            if response == nil { response = context.buffers.take() }
            respStart = 0
            respEnd = 0
            let count = link.io.read(response!, count: size)
            if count > 0 {
                respEnd = count
                lastActivity = context.now
                if link.drained(count: count, space: size) { link.readable = false }
                progressed = true
            } else if count == 0 {
                link.readable = false
                io.shutdownWrite()
                if clientEnded { close(context: context); return false }
            } else if count == -Int(EAGAIN) || count == -Int(EWOULDBLOCK) {
                link.readable = false
            } else {
                close(context: context)
                return false
            }
        }
        return progressed
    }

    // MARK: Timers

    /// Makes sure the timer fires no later than `time`; it re-arms itself when it fires early.
    private func want(_ time: UInt64, context: LoopContext) {
        guard deadline == 0 || time < deadline else { return }
        deadline = time
        context.schedule(self, at: time)
    }

    func timerFired(at time: UInt64, context: LoopContext) {
        guard time == deadline, phase != .closed else { return }
        deadline = 0
        let now = context.now
        var next = lastActivity + timeouts.idle
        switch phase {
        case .awaitingHead:
            if now >= lastActivity + timeouts.idle {
                close(context: context)
                return
            }
            if let tls, !tls.isEstablished {
                // No byte of a head can come before the handshake ends: the head's clock is the connection's.
                let due = headFirstByteAt + timeouts.handshake
                if now >= due {
                    runtime.metrics.handshakeFailures.increment()
                    BadInputLog.shared.report(
                        listener: runtime.relayName, reason: "TLS handshake not complete within timeouts.handshake",
                        client: "\(client)", logger: runtime.logger)
                    close(context: context)
                    return
                }
                next = min(next, due)
            }
            if headFirstByteAt != 0 {
                let due = headFirstByteAt + timeouts.request
                if now >= due && !spoke {
                    close(context: context)  // a pre-connect that never spoke
                    return
                }
                if now >= due {
                    BadInputLog.shared.report(
                        listener: runtime.relayName, reason: "request head not complete within timeouts.request",
                        client: "\(client)", logger: runtime.logger)
                    answer(status: 408, close: true, context: context)
                    pump(context)
                    return
                }
                next = min(next, due)
            } else {
                let due = lastActivity + timeouts.keepAlive
                if now >= due {
                    close(context: context)
                    return
                }
                next = min(next, due)
            }
        case .exchanging:
            if let delayed = delayedAnswer {
                guard now >= delayed.at else {
                    want(delayed.at, context: context)
                    return
                }
                delayedAnswer = nil
                answer(status: delayed.status, close: false, headers: delayed.headers, context: context)
                pump(context)
                return
            }
            var connectDue = UInt64.max
            if let link, link.phase == .connecting, exchange.connectDeadline != 0 {
                if now >= exchange.connectDeadline {
                    serverFailed(reason: "connect timed out", connectFailed: true, context: context)
                    pump(context)
                    return
                }
                connectDue = exchange.connectDeadline
                next = min(next, connectDue)
            }
            // A whole request waits for its server's answer (timeouts.server); a client that
            // stalls in the middle of its body, or a body that stops moving, meets the idle timeout.
            let waitingForAnswer = exchange.requestEnded && !exchange.responseStarted && exchange.serverDeadline != 0
            if !waitingForAnswer && now >= lastActivity + timeouts.idle {
                if !exchange.requestEnded {
                    BadInputLog.shared.report(
                        listener: runtime.relayName, reason: "request body stalled past timeouts.idle",
                        client: "\(client)",
                        logger: runtime.logger)
                }
                close(context: context)
                return
            }
            if exchange.serverDeadline != 0 && !exchange.responseStarted {
                if now >= exchange.serverDeadline {
                    runtime.metrics.serverFailures.increment()
                    runtime.logger.warning(
                        "server did not answer in time",
                        metadata: [
                            "relay": "\(runtime.relayName)", "server": "\(exchange.member.map { "\($0.key)" } ?? "-")",
                        ])
                    answer(status: 504, close: true, context: context)
                    pump(context)
                    return
                }
                next = waitingForAnswer ? min(exchange.serverDeadline, connectDue) : min(next, exchange.serverDeadline)
            }
        case .upgraded:
            if now >= lastActivity + timeouts.idle {
                close(context: context)
                return
            }
        case .closed:
            return
        }
        want(max(next, now + 1), context: context)
    }

    // MARK: Closing

    func close(context: LoopContext) {
        guard phase != .closed else { return }
        phase = .closed
        tls?.shutdown()
        Glibc.close(io.fd)
        if let link {
            self.link = nil
            link.owner = nil
            link.close(context: context)
        }
        if let input { context.buffers.give(input) }
        if let response { context.buffers.give(response) }
        if let serverHead { context.buffers.give(serverHead) }
        if let outHead { context.buffers.give(outHead.buffer) }
        input = nil
        response = nil
        serverHead = nil
        outHead = nil
        runtime.metrics.active.decrement()
        listener.releaseConnection(on: context.loop)
        context.release(self)
    }
}
