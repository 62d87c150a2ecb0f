import BallastCodecs
import BallastCore
import BallastReporting
import CoreMetrics
import Logging
import NIOCore
import NIOHTTP1

/// Proxies the requests of one client connection (HTTP/1.1) or one HTTP/2 stream.
///
/// Every request is balanced on its own, so that clients behind a reverse proxy that share
/// one connection are spread and pinned one by one. Bodies stream both ways; when one side
/// cannot take more bytes the other side is not read.
final class HTTPProxyHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    static let name = "ballast-http-proxy"

    /// One request and its response.
    private struct Exchange {
        var method: HTTPMethod
        var clientVersion: HTTPVersion
        var serverHead: HTTPRequestHead
        var keepAlive: Bool
        var upgrade: Bool
        var stickyCookie: ServerKey?
        var tried: [ServerKey] = []
        var server: ServerKey?
        var probe: ProbeKey?
        var setCookie: String?
        var waiting: [HTTPClientRequestPart] = []
        var bodyForwarded = false
        var requestEnded = false
        var responseStarted = false
        var serverKeepAlive = true
        var freshRetryUsed = false
        var switching: HTTPResponseHead?
        /// The server holding the active copy of the request's user's mailbox, when the relay routes by user.
        var userServer: (key: ServerKey, server: Server)?
    }

    private let runtime: HTTPRuntime
    private let client: ForwardingHeaders.Client
    private let isHTTP2: Bool
    private let headTimer: RequestHeadTimer?
    private var context: ChannelHandlerContext?
    private var exchange: Exchange?
    private var connection: ServerConnection?
    private var responseTimer: Scheduled<Void>?
    private var responseDeadline: NIODeadline?
    private var pendingRead = false
    private var closed = false
    private var inputClosed = false
    private var queued = CircularBuffer<HTTPServerRequestPart>()
    private var logger: Logger { runtime.logger }

    /// Ends an HTTP/2 stream early, without error; nil on HTTP/1.1.
    private let streamEnder: HTTP2StreamEnder?
    /// The response of an HTTP/2 stream is whole and its stream was reset: the rest of the
    /// client's body is discarded.
    private var discarding = false

    init(
        runtime: HTTPRuntime, client: ForwardingHeaders.Client, isHTTP2: Bool, headTimer: RequestHeadTimer?,
        streamEnder: HTTP2StreamEnder? = nil
    ) {
        self.runtime = runtime
        self.client = client
        self.isHTTP2 = isHTTP2
        self.headTimer = headTimer
        self.streamEnder = streamEnder
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    /// The context holds this handler: keeping it past removal would keep both alive for ever.
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    // MARK: From the client

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if discarding { return }
        let part = unwrapInboundIn(data)
        if !queued.isEmpty || (exchange?.requestEnded ?? false) {
            // A pipelined request waits for the response in flight, and reads wait with it.
            queued.append(part)
            return
        }
        handle(part, context: context)
    }

    private func handle(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) {
        switch part {
        case .head(let head):
            headTimer?.headArrived()
            begin(head, context: context)
        case .body(let buffer):
            guard exchange != nil else { return }
            send(.body(.byteBuffer(buffer)))
        case .end(let trailers):
            guard exchange != nil else { return }
            exchange?.requestEnded = true
            send(.end(trailers))
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        connection?.channel.flush()
        context.flush()
    }

    func read(context: ChannelHandlerContext) {
        if !queued.isEmpty || (exchange != nil && connection.map({ !$0.channel.isWritable }) ?? (exchange != nil)) {
            pendingRead = true
        } else {
            context.read()
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { connection?.handler.resumeReading() }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        responseTimer?.cancel()
        if let connection {
            connection.handler.owner = nil
            connection.channel.close(promise: nil)
        }
        connection = nil
        exchange = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let error = error as? HTTPParserError {
            runtime.metrics.badRequests.increment()
            BadInputLog.shared.report(
                listener: runtime.relayName, reason: "malformed request", client: "\(client.address)", logger: logger,
                detail: "\(error)")
            if exchange?.responseStarted ?? false {
                context.close(promise: nil)
            } else {
                abandonServer()
                respond(error == .headerOverflow ? .requestHeaderFieldsTooLarge : .badRequest, close: true)
            }
            return
        }
        logger.debug("client connection error", metadata: ["relay": "\(runtime.relayName)", "error": "\(error)"])
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            // Idle between requests, or in the middle of sending a body: the client is gone or
            // stalling. A request that is whole waits for its server's answer (timeouts.server).
            guard let exchange, exchange.requestEnded else {
                if exchange != nil {
                    BadInputLog.shared.report(
                        listener: runtime.relayName, reason: "request body stalled past timeouts.idle",
                        client: "\(client.address)", logger: logger)
                }
                abandonServer()
                context.close(promise: nil)
                return
            }
            return
        }
        if case ChannelEvent.inputClosed = event {
            // The client is done sending: answer what it asked, then close. A request whose body
            // it had not finished can never be whole: its server would wait for the rest in vain.
            inputClosed = true
            if let exchange, !exchange.requestEnded, !exchange.upgrade {
                BadInputLog.shared.report(
                    listener: runtime.relayName, reason: "request cut short by the client", client: "\(client.address)",
                    logger: logger)
                abandonServer()
                context.close(promise: nil)
                return
            }
            if exchange == nil && queued.isEmpty { context.close(promise: nil) }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// Takes up pipelined requests once the exchange before them is over.
    private func drainQueue() {
        guard let context, !closed else { return }
        while !(exchange?.requestEnded ?? false), let part = queued.popFirst() {
            handle(part, context: context)
            if closed { return }
        }
        if queued.isEmpty {
            if inputClosed && exchange == nil {
                context.close(promise: nil)
                return
            }
            resumeClientReads()
        }
    }

    private func begin(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        runtime.metrics.requests.increment()
        let state = runtime.store.current
        guard let relay = state.relay(named: runtime.relayName) else {
            respond(.serviceUnavailable, close: true)
            return
        }
        if Self.headSize(head) > relay.http.maxHeaderBytes {
            runtime.metrics.badRequests.increment()
            BadInputLog.shared.report(
                listener: relay.name, reason: "request head too large", client: "\(client.address)", logger: logger,
                detail: "limit \(relay.http.maxHeaderBytes) bytes")
            respond(.requestHeaderFieldsTooLarge, close: true)
            return
        }
        let upgrade =
            !isHTTP2 && head.headers.contains(name: "upgrade")
            && head.headers[canonicalForm: "connection"].contains { $0.lowercased() == "upgrade" }
        var serverHead = HTTPRequestHead(
            version: .http1_1, method: head.method, uri: head.uri,
            headers: ForwardingHeaders.rewrite(
                head.headers, settings: relay.http, client: client, cookieName: runtime.cookie?.settings.name,
                upgrade: upgrade))
        if isHTTP2 {
            serverHead.headers.remove(name: "transfer-encoding")
            if !serverHead.headers.contains(name: "content-length") && !Self.hasNoBody(head.method) {
                serverHead.headers.add(name: "Transfer-Encoding", value: "chunked")
            }
        }
        exchange = Exchange(
            method: head.method, clientVersion: head.version, serverHead: serverHead,
            keepAlive: isHTTP2 || head.isKeepAlive, upgrade: upgrade,
            stickyCookie: runtime.cookie?.server(in: head.headers[canonicalForm: "cookie"].map(String.init)))
        if let routing = relay.http.userRouting {
            guard routeByUser(routing, head: head, state: state, relay: relay, context: context) else { return }
        }
        dispatch(state: state, relay: relay)
    }

    /// Finds the request's user and the server holding their mailbox's active copy; answers
    /// 401, 403 or 503 itself (false) when it cannot.
    private func routeByUser(
        _ routing: HTTPSettings.UserRouting, head: HTTPRequestHead, state: State, relay: Relay, context: ChannelHandlerContext
    ) -> Bool {
        let realm = state.topology.store?.realm ?? state.sip?.realm ?? "ballast"
        let user: DirectoryUser?
        switch routing {
        case .basic:
            guard let header = head.headers.first(name: "authorization"),
                let credentials = DirectoryLogin.basicCredentials(header)
            else {
                respond(.unauthorized, close: false, headers: [("WWW-Authenticate", "Basic realm=\"\(realm)\", charset=\"UTF-8\"")])
                return false
            }
            if case .refuse(let until, let reason) = runtime.throttle.check(user: credentials.user, source: client.address) {
                runtime.metrics.throttled.increment()
                BadInputLog.shared.report(
                    listener: relay.name, reason: "login refused: \(reason.rawValue)", client: "\(client.address)",
                    logger: logger, detail: "login \(credentials.user)")
                respond(
                    .tooManyRequests, close: false,
                    headers: [("Retry-After", "\(max(1, (until - .now).components.seconds))")])
                return false
            }
            user = DirectoryLogin.verify(
                login: credentials.user, password: credentials.password, directory: state.directory, realm: realm)
            if user == nil {
                BadInputLog.shared.report(
                    listener: relay.name, reason: "login refused: unknown user or wrong password", client: "\(client.address)",
                    logger: logger, detail: "login \(credentials.user)")
                let delay = max(
                    state.topology.store?.failureDelay ?? .milliseconds(500),
                    runtime.throttle.failed(user: credentials.user, source: client.address))
                context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(delay)) { [self] in
                    respond(.unauthorized, close: false, headers: [("WWW-Authenticate", "Basic realm=\"\(realm)\", charset=\"UTF-8\"")])
                }
                return false
            }
            runtime.throttle.succeeded(user: credentials.user, source: client.address)
        case .header(let name):
            user = head.headers.first(name: name).flatMap { state.directory.user(login: $0) }
            if user == nil {
                BadInputLog.shared.report(
                    listener: relay.name, reason: "request without a known user in \(name)", client: "\(client.address)",
                    logger: logger)
                respond(.forbidden, close: false)
                return false
            }
        }
        guard let user else { return false }
        switch MailRouting.server(for: user, pool: relay.pool, in: state) {
        case .success(let route):
            exchange?.userServer = (route.key, route.server)
            return true
        case .failure(let failure):
            logger.warning("http request not routed", metadata: ["relay": "\(relay.name)", "reason": "\(failure)"])
            respond(.serviceUnavailable, close: false)
            return false
        }
    }

    /// Picks a server for the current exchange and sends the request there.
    private func dispatch(state: State, relay: Relay) {
        guard var exchange, let context else { return }
        var sticky = exchange.stickyCookie
        if sticky == nil, let table = runtime.stickTable { sticky = table.lookup(client.address, now: .now) }
        let chosen: (key: ServerKey, server: Server)?
        if let userServer = exchange.userServer {
            chosen = exchange.tried.contains(userServer.key) ? nil : userServer
        } else {
            chosen = state.choose(
                for: relay, input: runtime.balancingInput(client: client.address), sticky: sticky,
                excluding: exchange.tried
            ).map { ($0.key, $0.server) }
        }
        guard let member = chosen else {
            self.exchange = exchange
            if !exchange.tried.isEmpty {
                // Every server left to try failed this request: the failure is theirs, not capacity.
                respond(.badGateway, close: true)
                return
            }
            runtime.metrics.noServer.increment()
            logger.warning("no server up", metadata: ["relay": "\(relay.name)", "pool": "\(relay.pool)"])
            respond(.serviceUnavailable, close: !exchange.keepAlive || !exchange.requestEnded)
            return
        }
        runtime.stickTable?.record(client.address, server: member.key, now: .now)
        if let cookie = runtime.cookie {
            exchange.setCookie =
                exchange.stickyCookie == member.key
                ? nil : cookie.byServer[member.key].map { CookieHeader.setCookie(value: $0, settings: cookie.settings) }
        }
        exchange.server = member.key
        exchange.probe = state.topology.pool(named: relay.pool).flatMap { pool in
            state.topology.probe(for: relay, pool: pool, server: member.server)
        }
        self.exchange = exchange
        let endpoint = relay.target(for: member.server)
        if let pooled = runtime.pools.pool(on: context.eventLoop)?.take(endpoint) {
            attach(pooled, relay: relay)
            return
        }
        ServerConnection.connect(
            to: endpoint, on: context.eventLoop, tls: runtime.tls.reencryption,
            serverName: relay.http.serverTLS?.serverName, timeout: relay.timeouts.connect
        ).assumeIsolated().whenComplete { [self] result in
            switch result {
            case .success(let connection):
                if closed || self.exchange?.server != member.key {
                    connection.channel.close(promise: nil)
                } else {
                    attach(connection, relay: relay)
                }
            case .failure(let error):
                guard !closed else { return }
                serverFailed(error: error, connectFailed: true)
            }
        }
    }

    private func attach(_ connection: ServerConnection, relay: Relay) {
        guard var exchange else { return }
        self.connection = connection
        connection.handler.owner = self
        connection.handler.resumeReading()
        connection.channel.write(HTTPClientRequestPart.head(exchange.serverHead), promise: nil)
        for part in exchange.waiting {
            if case .body(.byteBuffer(let buffer)) = part, buffer.readableBytes > 0 { exchange.bodyForwarded = true }
            connection.channel.write(part, promise: nil)
        }
        exchange.waiting = []
        self.exchange = exchange
        connection.channel.flush()
        let deadline = NIODeadline.now() + TimeAmount(relay.http.timeouts.server)
        responseDeadline = deadline
        if responseTimer == nil { armResponseTimer(deadline, on: connection.channel.eventLoop) }
        if pendingRead, connection.channel.isWritable, let context {
            pendingRead = false
            context.read()
        }
    }

    /// Sends a request part to the server, or keeps it until the connection is there.
    private func send(_ part: HTTPClientRequestPart) {
        guard let connection else {
            exchange?.waiting.append(part)
            return
        }
        if case .body(.byteBuffer(let buffer)) = part, buffer.readableBytes > 0 { exchange?.bodyForwarded = true }
        connection.channel.write(part, promise: nil)
    }

    // MARK: Answers of Ballast's own

    /// Writes a short response of Ballast's own, then closes when asked or when the request
    /// is not over (its remaining body would be read as the next request).
    private func respond(_ status: HTTPResponseStatus, close: Bool, headers extra: [(String, String)] = []) {
        guard let context, !closed else { return }
        let mustClose = close || !(exchange?.requestEnded ?? false) || !(exchange?.keepAlive ?? false)
        exchange = nil
        var headers = HTTPHeaders(extra)
        let body = "\(status.code) \(status.reasonPhrase)\n"
        headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        headers.add(name: "Content-Length", value: "\(body.utf8.count)")
        if mustClose && !isHTTP2 { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if mustClose {
            done.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        } else {
            headTimer?.awaitHead()
            drainQueue()
        }
    }

    private func resumeClientReads() {
        guard pendingRead, let context else { return }
        pendingRead = false
        context.read()
    }

    // MARK: Failures towards the server

    /// One timer per connection, moved lazily: most responses come long before it fires.
    private func armResponseTimer(_ deadline: NIODeadline, on eventLoop: any EventLoop) {
        responseTimer = eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [weak self] in
            guard let self else { return }
            self.responseTimer = nil
            guard let due = self.responseDeadline else { return }
            if due <= .now() {
                self.serverTimedOut()
            } else {
                self.armResponseTimer(due, on: eventLoop)
            }
        }
    }

    private func serverTimedOut() {
        guard let exchange, !exchange.responseStarted else { return }
        runtime.metrics.serverFailures.increment()
        logger.warning(
            "server did not answer in time",
            metadata: ["relay": "\(runtime.relayName)", "server": "\(exchange.server.map { "\($0)" } ?? "-")"])
        abandonServer()
        respond(.gatewayTimeout, close: true)
    }

    private func abandonServer() {
        responseDeadline = nil
        if let connection {
            connection.handler.owner = nil
            connection.channel.close(promise: nil)
        }
        connection = nil
    }

    /// The server failed before its response was complete: retry once elsewhere when nothing
    /// was answered yet and the request can be sent again, else 502 or a cut connection.
    private func serverFailed(error: (any Error)?, connectFailed: Bool, reused: Bool = false) {
        guard var exchange, let context, !closed else { return }
        abandonServer()
        if exchange.responseStarted {
            context.close(promise: nil)
            return
        }
        let reason = error.map { "\($0)" } ?? "closed the connection"
        let replayable = !exchange.bodyForwarded && !exchange.upgrade
        if reused && replayable && !exchange.freshRetryUsed {
            // A keep-alive connection the server had closed meanwhile: the same server, afresh.
            exchange.freshRetryUsed = true
            exchange.waiting = exchange.requestEnded ? [.end(nil)] : []
            self.exchange = exchange
            redispatch(sameServer: true)
            return
        }
        runtime.metrics.serverFailures.increment()
        if let server = exchange.server {
            exchange.tried.append(server)
            if connectFailed, let probe = exchange.probe { runtime.reportFailure(probe, reason) }
        }
        logger.warning(
            "server failed before answering",
            metadata: [
                "relay": "\(runtime.relayName)", "server": "\(exchange.server.map { "\($0)" } ?? "-")",
                "error": "\(reason)",
            ])
        if exchange.tried.count < 2 && replayable && (Self.isIdempotent(exchange.method) || connectFailed) {
            runtime.metrics.retries.increment()
            exchange.waiting = exchange.requestEnded ? [.end(nil)] : []
            exchange.stickyCookie = nil
            self.exchange = exchange
            redispatch(sameServer: false)
        } else {
            self.exchange = exchange
            respond(.badGateway, close: true)
        }
    }

    private func redispatch(sameServer: Bool) {
        let state = runtime.store.current
        guard let relay = state.relay(named: runtime.relayName) else {
            respond(.serviceUnavailable, close: true)
            return
        }
        if sameServer, let server = exchange?.server { exchange?.stickyCookie = server }
        dispatch(state: state, relay: relay)
    }

    static func isIdempotent(_ method: HTTPMethod) -> Bool {
        switch method {
        case .GET, .HEAD, .OPTIONS, .TRACE, .PUT, .DELETE: return true
        default: return false
        }
    }

    private static func hasNoBody(_ method: HTTPMethod) -> Bool {
        switch method {
        case .GET, .HEAD, .DELETE, .OPTIONS, .TRACE, .CONNECT: return true
        default: return false
        }
    }

    /// Bytes of a request head as it came on the wire, near enough for a limit.
    static func headSize(_ head: HTTPRequestHead) -> Int {
        head.headers.reduce(head.uri.utf8.count + 16) { $0 + $1.name.utf8.count + $1.value.utf8.count + 4 }
    }
}

// MARK: From the server

extension HTTPProxyHandler: ServerConnectionOwner {
    var clientIsWritable: Bool { context?.channel.isWritable ?? false }

    func serverRead(_ part: HTTPClientResponsePart) {
        guard let context, var exchange else { return }
        switch part {
        case .head(let head):
            if head.status == .switchingProtocols {
                guard exchange.upgrade, connection != nil else {
                    serverFailed(error: nil, connectFailed: false)
                    return
                }
                // The codecs leave both pipelines once the server's decoder has ended this response.
                responseDeadline = nil
                exchange.switching = head
                self.exchange = exchange
                return
            }
            if head.status.code < 200 {
                if !isHTTP2 { context.write(wrapOutboundOut(.head(head)), promise: nil) }
                return
            }
            responseDeadline = nil
            exchange.responseStarted = true
            exchange.serverKeepAlive = head.isKeepAlive
            var headers = head.headers
            ForwardingHeaders.removeHopByHop(from: &headers)
            if isHTTP2 { headers.remove(name: "transfer-encoding") }
            if !isHTTP2 && exchange.clientVersion == .http1_0 && !headers.contains(name: "content-length") {
                // An HTTP/1.0 client reads no chunks: the body ends when the connection does.
                headers.remove(name: "transfer-encoding")
                exchange.keepAlive = false
            }
            if let setCookie = exchange.setCookie { headers.add(name: "Set-Cookie", value: setCookie) }
            if !exchange.keepAlive && !isHTTP2 { headers.add(name: "Connection", value: "close") }
            let version = isHTTP2 ? head.version : exchange.clientVersion
            self.exchange = exchange
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: version, status: head.status, headers: headers))), promise: nil)
        case .body(let buffer):
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        case .end(let trailers):
            if let head = exchange.switching, let connection {
                self.connection = nil
                self.exchange = nil
                HTTPUpgrade.splice(client: context, server: connection, response: head)
                return
            }
            finishExchange(trailers: trailers, context: context)
        }
    }

    func serverReadComplete() { context?.flush() }

    func serverClosed(error: (any Error)?) {
        let reused = connection?.reused ?? false
        connection = nil
        serverFailed(error: error, connectFailed: false, reused: reused)
    }

    func serverWritabilityChanged(isWritable: Bool) {
        if isWritable { resumeClientReads() }
    }

    private func finishExchange(trailers: HTTPHeaders?, context: ChannelHandlerContext) {
        guard let exchange else { return }
        let done = context.writeAndFlush(wrapOutboundOut(.end(trailers)))
        responseDeadline = nil
        if let connection {
            connection.handler.owner = nil
            // After an Upgrade the server did not take, some servers (SwiftNIO's among them) stop
            // reading requests on that connection: it is not reused.
            if exchange.serverKeepAlive && exchange.requestEnded && !exchange.upgrade,
                let pool = runtime.pools.pool(on: connection.channel.eventLoop),
                let relay = runtime.store.current.relay(named: runtime.relayName)
            {
                pool.put(connection, idleTimeout: relay.http.timeouts.serverIdle)
            } else {
                connection.channel.close(promise: nil)
            }
        }
        connection = nil
        self.exchange = nil
        if isHTTP2 && !exchange.requestEnded {
            // The client is still sending a body nobody will read: the stream ends here without
            // error (RFC 9113 8.1), the rest is dropped, and the connection's other streams go on.
            discarding = true
            done.assumeIsolated().whenComplete { [streamEnder] _ in streamEnder?.endWithoutError() }
            return
        }
        if !exchange.keepAlive || !exchange.requestEnded || (inputClosed && queued.isEmpty) {
            done.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
            return
        }
        headTimer?.awaitHead()
        drainQueue()
    }
}
