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

/// One mail client on its engine loop, from greeting to logout.
///
/// Until the client logs in, Ballast speaks the protocol itself (`MailDialogue`), on plain text,
/// implicit TLS, or TLS started by STARTTLS or STLS, all with the engine's TLS layer. A login
/// is checked against the directory; a refusal is answered after the failure delay; an accepted
/// one is repeated at the server holding the user's mailbox (`BackendLogin`), and from then on
/// bytes are relayed both ways, the client's side through TLS when it has it. A client must
/// finish its TLS handshake within `timeouts.handshake` and log in within `timeouts.login`;
/// a connection quiet for `timeouts.idle` is closed, before login or after.
final class MailConnection: EngineConnection {
    /// Carries the connection to another thread only to hand it back to its loop
    /// (`EngineLoop.execute`), where alone it is touched; hence `@unchecked Sendable`.
    private struct OnItsLoop: @unchecked Sendable {
        let connection: MailConnection
    }

    private enum Phase {
        /// Ballast speaks the protocol: greeting, capabilities, STARTTLS, the login commands.
        case dialogue
        /// STARTTLS or STLS was accepted: TLS starts once the acceptance is written.
        case startingTLS
        /// The credentials were refused; the answer waits for the failure delay (`answerDue`).
        case refusing
        /// Connecting to the user's server.
        case connecting
        /// Logging in at the user's server.
        case serverLogin
        /// Logged in: bytes relayed both ways.
        case relaying
        /// Writing the last lines to the client, then closing.
        case closing
        case closed
    }

    /// A login accepted by Ballast, on its way to the user's server.
    private struct PendingLogin {
        var login: String
        var user: DirectoryUser
        var route: MailRouting.Route
        var password: String
    }

    /// Most read-and-write rounds per event before yielding to other connections.
    private static let fairnessRounds = 32
    /// Bytes read at a time before login: commands are short, and a flood is cut into reads
    /// the dialogue's own bounds see.
    private static let dialogueRead = 4096
    /// Answers waiting for a client that does not read, past which its commands are not read.
    private static let outputLimit = 64 * 1024

    let slot: Int
    var listenerID: Int { listener.id }
    private(set) var deadline: UInt64 = 0
    private let listener: MailListener
    private let runtime: MailRuntime
    /// The client's socket (`front` holds it, under TLS or not).
    private let fd: Int32
    private var front: SocketIO
    private var back: Int32 = -1
    private let client: Endpoint?
    private var relay: Relay?
    private var dialogue: any MailDialogue
    private var phase = Phase.dialogue
    private var pendingLogin: PendingLogin?
    private var serverLogin: BackendLogin?
    private var sessionID: Int?
    /// The session's mailbox moved: the client is told, then the connection closes.
    private var kicked = false
    /// Bytes for the client and for the server.
    private var toClient = Outbox()
    private var toServer = Outbox()
    /// A side may have bytes to read: set by its events, cleared when a read would block.
    private var frontMayRead = true
    private var backMayRead = true
    /// The client shut its sending side (EPOLLRDHUP, or a read found the end).
    private var clientShut = false
    /// A read from the client found the end of its stream.
    private var clientEnded = false
    private var serverEnded = false
    private var backWriteShut = false
    private var frontWatchesWritable = false
    /// Set while `runDialogue` carries out steps: an answer given meanwhile lets its loop go on
    /// rather than start another (a client pipelining logins must not deepen the stack).
    private var inDialogue = false
    /// Commands stopped being read at `outputLimit`; they are read again once the answers are out.
    private var readingPaused = false
    private var lastActivity: UInt64 = 0
    /// When each of the connection's waits runs out; 0 when it does not apply.
    private var loginDue: UInt64 = 0
    private var handshakeDue: UInt64 = 0
    private var connectDue: UInt64 = 0
    private var answerDue: UInt64 = 0

    init(slot: Int, listener: MailListener, runtime: MailRuntime, fd: Int32, client: Endpoint?) {
        self.slot = slot
        self.listener = listener
        self.runtime = runtime
        self.fd = fd
        self.client = client
        front = SocketIO(fd: fd, tls: nil)
        let offered = runtime.tls != nil
        switch runtime.dialect {
        case .imap: dialogue = IMAPDialogue(tlsOffered: offered, tlsOn: runtime.implicitTLS)
        case .pop3: dialogue = POP3Dialogue(tlsOffered: offered, tlsOn: runtime.implicitTLS)
        }
    }

    /// Whether the client has logged in (its session survives the listener's stop).
    var isLoggedIn: Bool { phase == .relaying }

    // MARK: Starting

    func start(context: LoopContext) {
        lastActivity = context.now
        guard let relay = runtime.relay else {
            // The relay was removed by a reload while this client waited in the backlog.
            close(context: context)
            return
        }
        self.relay = relay
        runtime.active.increment()
        if runtime.implicitTLS {
            guard let tls = runtime.tls, let connection = TLSConnection(accepting: fd, context: tls) else {
                runtime.logger.error("cannot start TLS for a client", metadata: ["relay": "\(relay.name)"])
                close(context: context)
                return
            }
            front = SocketIO(fd: fd, tls: connection)
            handshakeDue = context.now + relay.mailTimeouts.handshake.milliseconds
        }
        loginDue = context.now + relay.mailTimeouts.login.milliseconds
        rearm(context)
        queueToClient(dialogue.greeting)
        readDialogue(context)
    }

    // MARK: Events

    func handle(side: ConnectionSide, flags: UInt32, context: LoopContext) {
        let readable = flags & (EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0
        let writable = flags & (EPOLLOUT.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0
        let broken = flags & (EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0
        switch side {
        case .front:
            if readable { frontMayRead = true }
            // A TLS read may have waited for room to write (a handshake message).
            if writable && front.tls != nil { frontMayRead = true }
            if flags & EPOLLRDHUP.rawValue != 0 { clientShut = true }
            if broken && (phase == .refusing || phase == .connecting || phase == .serverLogin) {
                close(context: context)  // the client is gone before its login was answered
                return
            }
        case .back:
            if readable { backMayRead = true }
            if phase == .connecting {
                if broken {
                    let error = ballast_socket_error(back)
                    serverUnreachable(SystemError.describe(error == 0 ? ECONNREFUSED : error), context: context)
                } else if writable {
                    connected(context)
                }
                return
            }
        }
        advance(context)
    }

    private func advance(_ context: LoopContext) {
        switch phase {
        case .dialogue: readDialogue(context)
        case .startingTLS, .refusing, .closing: flushToClient(context)
        case .connecting, .closed: break
        case .serverLogin:
            flushToServer(context)
            readServerLogin(context)
        case .relaying: pump(context)
        }
    }

    func continueMoving(context: LoopContext) {
        switch phase {
        case .relaying: pump(context)
        case .dialogue: readDialogue(context)
        default: break
        }
    }

    func continueAfterPoll(context: LoopContext) {}

    // MARK: Before login

    /// Reads the client's commands and answers them, until a read would block or a step
    /// (a login, STARTTLS, a close) stops the dialogue.
    private func readDialogue(_ context: LoopContext) {
        let wasEstablished = front.tls?.isEstablished ?? true
        let buffer = context.buffers.take()
        let room = min(context.buffers.size, Self.dialogueRead)
        while phase == .dialogue && frontMayRead && !clientEnded {
            guard toClient.waiting < Self.outputLimit else {
                readingPaused = true
                break
            }
            let count = front.read(buffer, count: room)
            if count > 0 {
                lastActivity = context.now
                dialogue.append(UnsafeRawBufferPointer(start: buffer, count: count))
                runDialogue(context)
            } else if count == 0 {
                clientEnded = true
                clientShut = true
            } else if Self.wouldBlock(count) {
                frontMayRead = false
                if front.tls?.wantsWritable == true { watchFrontWritable(context) }
            } else {
                if let tls = front.tls, !tls.isEstablished {
                    handshakeFailed("TLS handshake failed", detail: front.describe(Int32(-count)))
                }
                context.buffers.give(buffer)
                close(context: context)
                return
            }
        }
        context.buffers.give(buffer)
        guard phase != .closed else { return }
        if !wasEstablished, front.tls?.isEstablished == true {
            handshakeDue = 0
            rearm(context)
        }
        // Nothing more can come: answer what came, then close.
        if clientEnded && phase == .dialogue { phase = .closing }
        flushToClient(context)
    }

    /// Carries out the dialogue's steps for the commands buffered.
    private func runDialogue(_ context: LoopContext) {
        inDialogue = true
        defer { inDialogue = false }
        while phase == .dialogue, let step = dialogue.next() {
            switch step {
            case .send(let lines):
                queueToClient(lines)
            case .badInput(let reason, let detail, let answer):
                report(reason, detail: detail)
                queueToClient(answer)
            case .startTLS(let accept):
                queueToClient(accept)
                phase = .startingTLS
            case .login(let user, let password):
                startLogin(user, password: password, context: context)
            case .close(let last, let badInput):
                if let badInput { report(badInput) }
                if let last { queueToClient(last) }
                phase = .closing
            }
        }
    }

    /// TLS from the client's next byte, after STARTTLS or STLS was accepted and written.
    private func beginTLS(_ context: LoopContext) {
        guard let relay, let tls = runtime.tls, let connection = TLSConnection(accepting: fd, context: tls) else {
            close(context: context)
            return
        }
        front = SocketIO(fd: fd, tls: connection)
        phase = .dialogue
        frontMayRead = true
        handshakeDue = context.now + relay.mailTimeouts.handshake.milliseconds
        rearm(context)
        readDialogue(context)
    }

    private func handshakeFailed(_ reason: String, detail: String = "") {
        runtime.handshakeFailures.increment()
        report(reason, detail: detail)
    }

    // MARK: Logging in

    private func startLogin(_ login: String, password: String, context: LoopContext) {
        guard let relay else { return }
        switch runtime.decide(login: login, password: password, relay: relay, client: client) {
        case .refuse(let delay):
            phase = .refusing
            answerDue = context.now + delay.milliseconds
            rearm(context)
        case .unavailable:
            answerUnavailable(context)
        case .route(let user, let route, let target):
            pendingLogin = PendingLogin(login: login, user: user, route: route, password: password)
            connect(to: target, context: context)
        }
    }

    /// The failure delay passed: the refusal goes out.
    private func answerRefused(_ context: LoopContext) {
        phase = .dialogue
        switch dialogue.refused() {
        case .send(let line):
            queueToClient(line)
        case .close(let last, _):
            if let last { queueToClient(last) }
            phase = .closing
        default:
            break
        }
        resumeDialogue(context)
    }

    private func answerUnavailable(_ context: LoopContext) {
        queueToClient(dialogue.unavailable())
        phase = .dialogue
        if !inDialogue { resumeDialogue(context) }
    }

    /// After a login's answer, commands are read again; a client that has stopped sending
    /// cannot send one, so its connection closes once the answer is out.
    private func resumeDialogue(_ context: LoopContext) {
        if phase == .dialogue && clientShut { phase = .closing }
        flushToClient(context)
        guard phase == .dialogue else { return }
        runDialogue(context)
        if phase == .dialogue { readDialogue(context) }
    }

    private func connect(to target: Endpoint, context: LoopContext) {
        guard let relay else { return }
        let socket = ballast_socket(target.address.family == .v6 ? 6 : 4)
        guard socket >= 0 else {
            serverUnreachable(SystemError.describe(-socket), context: context)
            return
        }
        back = socket
        _ = ballast_set_nodelay(socket)
        var address = ballast_address(target)
        let result = ballast_connect(socket, &address)
        guard result == 0 || result == -EINPROGRESS else {
            serverUnreachable(SystemError.describe(-result), context: context)
            return
        }
        _ = ballast_epoll_add(
            context.loop.epollFD, socket,
            EPOLLIN.rawValue | EPOLLOUT.rawValue | EPOLLRDHUP.rawValue | EPOLLET.rawValue,
            context.tag(slot: slot, side: .back))
        phase = .connecting
        connectDue = context.now + relay.timeouts.connect.milliseconds
        rearm(context)
        if result == 0 { connected(context) }
    }

    private func connected(_ context: LoopContext) {
        guard let pendingLogin else { return }
        phase = .serverLogin
        connectDue = 0
        rearm(context)
        serverLogin = BackendLogin(
            dialect: dialogue.dialect, user: pendingLogin.user.authName, password: pendingLogin.password)
        readServerLogin(context)
    }

    /// Reads the server's lines and answers them, until the login's result.
    private func readServerLogin(_ context: LoopContext) {
        let buffer = context.buffers.take()
        defer { context.buffers.give(buffer) }
        while phase == .serverLogin && backMayRead {
            let count = ballast_read(back, buffer, UInt(context.buffers.size))
            if count > 0 {
                serverLogin?.append(UnsafeRawBufferPointer(start: buffer, count: count))
                while phase == .serverLogin, let step = serverLogin?.next() {
                    switch step {
                    case .send(let line):
                        toServer.bytes += Array((line + "\r\n").utf8)
                        flushToServer(context)
                    case .loggedIn(let finalLine):
                        loggedIn(finalLine, context: context)
                    case .refused(let line):
                        serverRefused(line, context: context)
                    }
                }
            } else if count == 0 {
                serverRefused("the server closed the connection", context: context)
            } else if Self.wouldBlock(count) {
                backMayRead = false
            } else {
                serverUnreachable(SystemError.describe(Int32(-count)), context: context)
            }
        }
    }

    private func serverRefused(_ line: String, context: LoopContext) {
        runtime.logger.warning(
            "mail server refused the login Ballast accepted",
            metadata: [
                "relay": "\(runtime.relayName)", "login": "\(pendingLogin?.login ?? "?")",
                "server": "\(pendingLogin?.route.key.description ?? "?")", "said": "\(line)",
            ])
        abandonServer(context)
    }

    private func serverUnreachable(_ reason: String, context: LoopContext) {
        runtime.logger.warning(
            "mail server not reachable",
            metadata: [
                "relay": "\(runtime.relayName)", "server": "\(pendingLogin?.route.key.description ?? "?")",
                "reason": "\(reason)",
            ])
        abandonServer(context)
    }

    /// The login got no further than the server: its socket closes and the client hears that
    /// its mailbox is not available now.
    private func abandonServer(_ context: LoopContext) {
        if back >= 0 {
            Glibc.close(back)
            back = -1
        }
        backMayRead = true
        toServer = Outbox()
        serverLogin = nil
        pendingLogin = nil
        connectDue = 0
        answerUnavailable(context)
    }

    private func loggedIn(_ finalLine: String, context: LoopContext) {
        guard let login = pendingLogin else { return }
        runtime.logins.increment()
        runtime.logger.info(
            "mail login",
            metadata: [
                "relay": "\(runtime.relayName)", "login": "\(login.login)", "database": "\(login.route.database)",
                "server": "\(login.route.key)",
            ])
        phase = .relaying
        loginDue = 0
        rearm(context)
        let handle = OnItsLoop(connection: self)
        let loop = context.loop
        sessionID = runtime.sessions.add(
            user: login.user.sipURI, database: login.route.database, server: login.route.key,
            dialect: dialogue.dialect
        ) {
            loop.execute { context in handle.connection.kick(context) }
        }
        queueToClient(dialogue.loggedIn(serverLine: finalLine))
        toClient.bytes += serverLogin?.leftover ?? []
        toServer.bytes += dialogue.leftover
        serverLogin = nil
        pendingLogin = nil
        pump(context)
    }

    /// The session's mailbox moved: the client is told, and the connection closes once it has been.
    private func kick(_ context: LoopContext) {
        guard phase == .relaying, !kicked else { return }
        kicked = true
        queueToClient(dialogue.movedLine)
        pump(context)
    }

    // MARK: Relaying

    /// Moves bytes both ways until neither side can go on, the fairness cap is reached, or the
    /// connection ends. A side is read only when what it sent before has been written on, so at
    /// most one read's bytes wait per direction. The client's end of stream becomes a half-close
    /// towards the server; the server's, once its bytes are out, closes the connection.
    private func pump(_ context: LoopContext) {
        let buffer = context.buffers.take()
        defer { context.buffers.give(buffer) }
        var rounds = 0
        while phase == .relaying {
            rounds += 1
            guard rounds <= Self.fairnessRounds else {
                context.markReady(self)
                return
            }
            var moved = false
            // Client to server.
            if toServer.waiting > 0 {
                let count = toServer.writeOnce { ballast_write(back, $0, UInt($1)) }
                if count > 0 {
                    moved = true
                } else if !Self.wouldBlock(count) {
                    return fail(Int32(-count), context: context)
                }
            } else if !clientEnded && frontMayRead && !kicked {
                switch Self.take(front.read(buffer, count: context.buffers.size), from: buffer, into: &toServer.bytes) {
                case .bytes:
                    lastActivity = context.now
                    moved = true
                case .ended:
                    clientEnded = true
                    moved = true
                case .wouldBlock:
                    frontMayRead = false
                    if front.tls?.wantsWritable == true { watchFrontWritable(context) }
                case .failed(let code):
                    return fail(code, context: context)
                }
            } else if clientEnded && !backWriteShut {
                backWriteShut = true
                _ = ballast_shutdown_write(back)
            }
            // Server to client.
            if toClient.waiting > 0 {
                let count = toClient.writeOnce { front.write($0, $1, nil, 0) }
                if count > 0 {
                    moved = true
                } else if Self.wouldBlock(count) {
                    watchFrontWritable(context)
                } else {
                    return fail(Int32(-count), context: context)
                }
            } else if kicked || serverEnded {
                close(context: context)
                return
            } else if backMayRead {
                switch Self.take(
                    ballast_read(back, buffer, UInt(context.buffers.size)), from: buffer, into: &toClient.bytes)
                {
                case .bytes:
                    lastActivity = context.now
                    moved = true
                case .ended:
                    serverEnded = true
                    moved = true
                case .wouldBlock:
                    backMayRead = false
                case .failed(let code):
                    return fail(code, context: context)
                }
            }
            if !moved { return }
        }
    }

    /// What one read from a side came to.
    private enum ReadResult {
        case bytes
        case ended
        case wouldBlock
        case failed(Int32)
    }

    /// Appends what a read of `result` bytes left in `buffer` to `bytes`, and says what it came to.
    private static func take(
        _ result: Int, from buffer: UnsafeMutableRawPointer, into bytes: inout [UInt8]
    ) -> ReadResult {
        if result > 0 {
            bytes.append(contentsOf: UnsafeRawBufferPointer(start: buffer, count: result))
            return .bytes
        }
        if result == 0 { return .ended }
        return wouldBlock(result) ? .wouldBlock : .failed(Int32(-result))
    }

    /// Bytes waiting for one side, `bytes[sent...]` not yet written.
    private struct Outbox {
        var bytes: [UInt8] = []
        var sent = 0

        /// How many bytes wait.
        var waiting: Int { bytes.count - sent }

        /// Writes what waits once, by `write` (the bytes and their count); returns its result.
        /// Emptied, its memory given back, once all are out.
        mutating func writeOnce(_ write: (UnsafeRawPointer, Int) -> Int) -> Int {
            let count = bytes.withUnsafeBytes { write($0.baseAddress! + sent, bytes.count - sent) }
            guard count > 0 else { return count }
            sent += count
            if sent == bytes.count { self = Outbox() }
            return count
        }
    }

    private func fail(_ code: Int32, context: LoopContext) {
        runtime.logger.debug(
            "mail connection failed",
            metadata: ["relay": "\(runtime.relayName)", "client": "\(clientText)", "error": "\(front.describe(code))"])
        close(context: context)
    }

    // MARK: Writing

    private func queueToClient(_ lines: String) {
        toClient.bytes += Array((lines + "\r\n").utf8)
    }

    /// Writes what waits for the client; then starts TLS or closes when the phase says so.
    /// Under TLS nothing is written before the handshake is done (the reads drive it).
    private func flushToClient(_ context: LoopContext) {
        if let tls = front.tls, !tls.isEstablished { return }
        while toClient.waiting > 0 {
            let count = toClient.writeOnce { front.write($0, $1, nil, 0) }
            if count > 0 {
                lastActivity = context.now
            } else if Self.wouldBlock(count) {
                watchFrontWritable(context)
                return
            } else {
                return fail(Int32(-count), context: context)
            }
        }
        switch phase {
        case .startingTLS: beginTLS(context)
        case .closing: close(context: context)
        case .dialogue where readingPaused:
            // On the loop's next turn, not from here: a reader that keeps up must not deepen the stack.
            readingPaused = false
            context.markReady(self)
        default: break
        }
    }

    private func flushToServer(_ context: LoopContext) {
        while toServer.waiting > 0 {
            let count = toServer.writeOnce { ballast_write(back, $0, UInt($1)) }
            guard count <= 0 else { continue }
            // The server's socket is watched for EPOLLOUT from its connect on.
            if Self.wouldBlock(count) { return }
            return serverUnreachable(SystemError.describe(Int32(-count)), context: context)
        }
    }

    /// Asks epoll for the client socket's writability, once: edge-triggered, it then reports
    /// each time room appears after a write would have blocked.
    private func watchFrontWritable(_ context: LoopContext) {
        guard !frontWatchesWritable else { return }
        frontWatchesWritable = true
        front.watchWritable(slot: slot, context: context)
    }

    private static func wouldBlock(_ result: Int) -> Bool {
        result == -Int(EAGAIN) || result == -Int(EWOULDBLOCK) || result == -Int(EINTR)
    }

    // MARK: Timers

    /// Arms the one timer at the earliest of the connection's waits. An entry for an earlier
    /// deadline is ignored when it fires (`timerFired` acts on the current one only).
    private func rearm(_ context: LoopContext) {
        guard let relay else { return }
        var next = lastActivity + relay.timeouts.idle.milliseconds
        for due in [loginDue, handshakeDue, connectDue, answerDue] where due != 0 { next = min(next, due) }
        guard next != deadline else { return }
        deadline = next
        context.schedule(self, at: next)
    }

    func timerFired(at time: UInt64, context: LoopContext) {
        guard time == deadline, phase != .closed, let relay else { return }
        let now = context.now
        if handshakeDue != 0 && now >= handshakeDue {
            handshakeFailed("TLS handshake not done within timeouts.handshake")
            return close(context: context)
        }
        if loginDue != 0 && now >= loginDue {
            report("no login within timeouts.login")
            return close(context: context)
        }
        if connectDue != 0 && now >= connectDue {
            connectDue = 0
            serverUnreachable("connect timed out", context: context)
        }
        if answerDue != 0 && now >= answerDue {
            answerDue = 0
            answerRefused(context)
        }
        guard phase != .closed else { return }
        if now >= lastActivity + relay.timeouts.idle.milliseconds {
            runtime.logger.debug(
                "idle timeout, closing", metadata: ["relay": "\(relay.name)", "client": "\(clientText)"])
            return close(context: context)
        }
        deadline = 0
        rearm(context)
    }

    // MARK: Closing

    /// Closes both sides now and accounts once.
    func close(context: LoopContext) {
        guard phase != .closed else { return }
        phase = .closed
        if front.tls?.isEstablished == true { front.shutdownWrite() }
        Glibc.close(fd)
        if back >= 0 {
            Glibc.close(back)
            back = -1
        }
        if let sessionID { runtime.sessions.remove(sessionID) }
        if relay != nil { runtime.active.decrement() }  // counted at start
        listener.releaseConnection(on: context.loop)
        context.release(self)
    }

    private func report(_ reason: String, detail: String? = nil) {
        BadInputLog.shared.report(
            listener: runtime.relayName, reason: reason, client: clientText, logger: runtime.logger,
            detail: detail ?? "")
    }

    private var clientText: String { client?.description ?? "?" }
}
