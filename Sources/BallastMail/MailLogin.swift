import BallastCodecs
import BallastCore
import BallastNIO
import BallastReporting
import CoreMetrics
import Logging
import NIOCore
import NIOPosix
import NIOSSL

/// What came of a client's login.
enum LoginOutcome {
    /// Logged in at the server holding the active copy; splice the two connections.
    case ready(backend: any Channel, user: String, database: String, server: ServerKey, finalLine: String)
    /// Unknown user or wrong password (told apart only in the log).
    case badCredentials
    /// The user is known but their mailbox cannot be reached now.
    case unavailable(reason: String)
}

/// The login every mail front handler makes: check the password against the directory, find the
/// active copy's server, log in there as the directory's name for the user (its auth name, however
/// the client named itself: mail address, SIP URI or name), and answer failures only after the
/// configured delay.
enum MailLogin {
    static func start(
        login: String, password: String, dialect: MailDialect, runtime: MailRuntime, eventLoop: any EventLoop,
        clientAddress: String, clientIP: IPAddress?
    ) -> EventLoopFuture<LoginOutcome> {
        let state = runtime.state.current
        guard let relay = state.relay(named: runtime.relayName) else {
            return eventLoop.makeSucceededFuture(.unavailable(reason: "relay removed"))
        }
        let user: DirectoryUser
        let route: MailRouting.Route
        switch UserLogin.decide(
            login: login, password: password, source: clientIP, pool: relay.pool, state: state,
            throttle: runtime.throttle,
            now: .now)
        {
        case .throttled(_, let reason, let delay):
            // Answered as a failed login, after the usual delay: the client learns nothing new.
            runtime.throttled.increment()
            BadInputLog.shared.report(
                listener: relay.name, reason: "login refused: \(reason.rawValue)", client: clientAddress,
                logger: runtime.logger, detail: "login \(login)")
            return eventLoop.scheduleTask(in: TimeAmount(delay)) { LoginOutcome.badCredentials }.futureResult
        case .refused(let delay):
            runtime.failures.increment()
            BadInputLog.shared.report(
                listener: relay.name, reason: "login refused: unknown user or wrong password", client: clientAddress,
                logger: runtime.logger, detail: "login \(login)")
            return eventLoop.scheduleTask(in: TimeAmount(delay)) { LoginOutcome.badCredentials }.futureResult
        case .unroutable(_, let failure):
            runtime.logger.warning(
                "mail login not routed",
                metadata: ["relay": "\(relay.name)", "login": "\(login)", "reason": "\(failure)"])
            return eventLoop.makeSucceededFuture(.unavailable(reason: failure.description))
        case .routed(let found, let foundRoute):
            (user, route) = (found, foundRoute)
        }
        let target = relay.target(for: route.server)
        let promise = eventLoop.makePromise(of: BackendLoginResult.self)
        let connected = ClientBootstrap(group: eventLoop)
            .connectTimeout(TimeAmount(relay.timeouts.connect))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        BackendLoginHandler(dialect: dialect, user: user.authName, password: password, promise: promise)
                    )
                }
            }
            .connect(to: SocketAddress(target))
        connected.whenFailure { promise.fail($0) }
        return connected.and(promise.futureResult).map { backend, result -> LoginOutcome in
            switch result {
            case .loggedIn(let line):
                runtime.logins.increment()
                runtime.logger.info(
                    "mail login",
                    metadata: [
                        "relay": "\(relay.name)", "login": "\(login)", "database": "\(route.database)",
                        "server": "\(route.key)",
                    ])
                return .ready(
                    backend: backend, user: user.sipURI, database: route.database, server: route.key, finalLine: line)
            case .refused(let line):
                runtime.logger.warning(
                    "mail server refused the login Ballast accepted",
                    metadata: [
                        "relay": "\(relay.name)", "login": "\(login)", "server": "\(route.key)", "said": "\(line)",
                    ])
                return .unavailable(reason: "the mailbox server refused the login")
            }
        }.flatMapErrorThrowing { error in
            runtime.logger.warning(
                "mail server not reachable",
                metadata: ["relay": "\(relay.name)", "server": "\(route.key)", "reason": "\(error)"])
            return .unavailable(reason: "the mailbox server cannot be reached")
        }
    }

    /// Hands the connection over to the server: the front handler leaves, glue joins the two
    /// channels, and bytes the client sent after its login go to the server.
    static func splice(
        client context: ChannelHandlerContext, front: any RemovableChannelHandler, backend: any Channel,
        leftover: [UInt8]
    ) {
        let clientGlue = GlueHandler()
        let backendGlue = GlueHandler()
        GlueHandler.pair(clientGlue, backendGlue)
        let backendSync = backend.pipeline.syncOperations
        do {
            if let login = try? backendSync.handler(type: BackendLoginHandler.self) {
                backendSync.removeHandler(login, promise: nil)
            }
            try backendSync.addHandler(backendGlue)
            try context.pipeline.syncOperations.addHandler(clientGlue)
        } catch {
            context.close(promise: nil)
            backend.close(promise: nil)
            return
        }
        if !leftover.isEmpty { backend.writeAndFlush(ByteBuffer(bytes: leftover), promise: nil) }
        context.pipeline.syncOperations.removeHandler(front, promise: nil)
        context.channel.read()
        backend.read()
    }
}

/// What a mail front handler says and does around a login; `MailLogin.finish` runs the outcome
/// the same way for IMAP and POP3.
protocol MailFront: AnyObject, RemovableChannelHandler {
    /// Where the pre-login dialogue is.
    var phase: MailFrontPhase { get set }
    /// Reads the commands the client has sent.
    func process(context: ChannelHandlerContext)
    /// Bytes the client sent after its login command, for the server.
    var leftover: [UInt8] { get }
    /// The client's answer for the server's success line.
    func successAnswer(_ finalLine: String) -> String
    /// Records a refused login; the lines to send, and whether to close now.
    func refused() -> (lines: [String], close: Bool)
    /// The answer when the mailbox cannot be reached.
    var unavailableAnswer: String { get }
    /// Closes the connection unless the client logs in in time.
    var loginDeadline: ConnectionDeadline { get }
    /// The client has shut its sending side: nothing more will come.
    var clientDone: Bool { get set }
    /// IMAP or POP3.
    var dialect: MailDialect { get }
}

/// Where a mail front handler's pre-login dialogue is.
enum MailFrontPhase {
    case commands
    /// `AUTHENTICATE PLAIN` / `AUTH PLAIN` sent `+`; the next line is the client's response.
    case saslResponse(tag: String)
    /// A login is being checked; what the client sends meanwhile waits.
    case loggingIn
    case done
}

extension MailFront {
    /// Whether the handler still waits for its login (the client may have gone meanwhile).
    var isLoggingIn: Bool {
        if case .loggingIn = phase { return true }
        return false
    }

    /// The login is over: `done` after success or a close, else commands are read again (or, when
    /// the client has stopped sending, the connection is closed: no command can come).
    func loginEnded(done: Bool, context: ChannelHandlerContext) {
        phase = done ? .done : .commands
        guard !done else { return }
        if clientDone {
            phase = .done
            context.close(promise: nil)
        } else {
            process(context: context)
        }
    }

    /// The client shut its sending side before logging in: close now, or once a login under way
    /// has been answered (a client may send its login and then shut, as scripts do).
    func clientShutInput(context: ChannelHandlerContext) {
        clientDone = true
        guard !isLoggingIn else { return }
        phase = .done
        context.close(promise: nil)
    }

    /// Answers STARTTLS or STLS: `refusal` when TLS is not offered here (or already on), else
    /// `accept` and TLS from the client's next byte, which must complete its handshake within
    /// `handshake`'s timeout. Whether TLS starts.
    func startTLS(
        _ tls: NIOSSLContext?, alreadyOn: Bool, accept: String, refusal: String, handshake: ConnectionDeadline?,
        context: ChannelHandlerContext
    ) -> Bool {
        guard !alreadyOn, let tls else {
            sendLine(refusal, context: context)
            return false
        }
        sendLine(accept, context: context)
        do {
            let ssl = NIOSSLServerHandler(context: tls)
            try context.pipeline.syncOperations.addHandler(ssl, position: .first)
            if let handshake { try context.pipeline.syncOperations.addHandler(handshake, position: .after(ssl)) }
        } catch {
            context.close(promise: nil)
        }
        return true
    }

    /// Writes a line to the client.
    func sendLine(_ line: String, context: ChannelHandlerContext) {
        context.writeAndFlush(NIOAny(ByteBuffer(string: line + "\r\n")), promise: nil)
    }
}

extension MailLogin {
    /// Answers the client for `outcome` and, on success, registers and splices the session.
    static func finish(
        _ outcome: EventLoopFuture<LoginOutcome>, front: some MailFront, runtime: MailRuntime,
        context: ChannelHandlerContext
    ) {
        outcome.assumeIsolated().whenComplete { result in
            guard front.isLoggingIn, context.channel.isActive else {
                if case .success(.ready(let backend, _, _, _, _)) = result { backend.close(promise: nil) }
                return
            }
            switch result {
            case .success(.ready(let backend, let user, let database, let server, let finalLine)):
                front.loginEnded(done: true, context: context)
                front.loginDeadline.reached()
                runtime.sessions.add(
                    user: user, database: database, server: server, dialect: front.dialect, client: context.channel,
                    backend: backend)
                front.sendLine(front.successAnswer(finalLine), context: context)
                splice(client: context, front: front, backend: backend, leftover: front.leftover)
                // The client had already shut its side: so does the server's, after what it sent.
                if front.clientDone { backend.close(mode: .output, promise: nil) }
            case .success(.badCredentials):
                let (lines, close) = front.refused()
                for line in lines { front.sendLine(line, context: context) }
                if close { context.close(promise: nil) }
                front.loginEnded(done: close, context: context)
            case .success(.unavailable), .failure:
                front.sendLine(front.unavailableAnswer, context: context)
                front.loginEnded(done: false, context: context)
            }
        }
    }
}
