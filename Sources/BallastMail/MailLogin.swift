import BallastCodecs
import BallastCore
import BallastNIO
import CoreMetrics
import Logging
import NIOCore
import NIOPosix

/// What came of a client's login.
enum LoginOutcome {
    /// Logged in at the server holding the active copy; splice the two connections.
    case ready(backend: any Channel, database: String, server: ServerKey, finalLine: String)
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
        clientAddress: String
    ) -> EventLoopFuture<LoginOutcome> {
        let state = runtime.store.current
        let rules = runtime.loginRules
        guard let relay = state.relay(named: runtime.relayName) else {
            return eventLoop.makeSucceededFuture(.unavailable(reason: "relay removed"))
        }
        guard let user = DirectoryLogin.verify(login: login, password: password, directory: state.directory, realm: rules.realm)
        else {
            runtime.failures.increment()
            runtime.logger.notice(
                "mail login refused: unknown user or wrong password",
                metadata: ["relay": "\(relay.name)", "login": "\(login)", "client": "\(clientAddress)"])
            return eventLoop.scheduleTask(in: TimeAmount(rules.failureDelay)) { LoginOutcome.badCredentials }.futureResult
        }
        let route: MailRouting.Route
        switch MailRouting.server(for: user, pool: relay.pool, in: state) {
        case .success(let found): route = found
        case .failure(let failure):
            runtime.logger.warning(
                "mail login not routed", metadata: ["relay": "\(relay.name)", "login": "\(login)", "reason": "\(failure)"])
            return eventLoop.makeSucceededFuture(.unavailable(reason: failure.description))
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
                        BackendLoginHandler(dialect: dialect, user: user.authName, password: password, promise: promise))
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
                return .ready(backend: backend, database: route.database, server: route.key, finalLine: line)
            case .refused(let line):
                runtime.logger.warning(
                    "mail server refused the login Ballast accepted",
                    metadata: ["relay": "\(relay.name)", "login": "\(login)", "server": "\(route.key)", "said": "\(line)"])
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
            if let login = try? backendSync.handler(type: BackendLoginHandler.self) { backendSync.removeHandler(login, promise: nil) }
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
