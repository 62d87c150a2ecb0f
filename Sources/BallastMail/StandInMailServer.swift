import BallastCodecs
public import NIOCore
import NIOPosix

/// A small IMAP or POP3 server that stands in for a mailbox server in labs and tests: it accepts
/// a login when the password is `USER-demo` (the lab's convention) or any password when
/// `passwords` is nil, says its name in the login answer, and answers a few commands after login.
public final class StandInMailServer: Sendable {
    /// The listening channel.
    public let channel: any Channel

    /// Its port.
    public var port: Int { channel.localAddress?.port ?? 0 }

    private init(channel: any Channel) { self.channel = channel }

    /// Starts an IMAP (`pop3` false) or POP3 server named `name` on `host:port` (0 for any free port).
    public static func start(
        host: String, port: Int, name: String, pop3: Bool, acceptAnyPassword: Bool = false, group: any EventLoopGroup
    ) async throws -> StandInMailServer {
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 1024)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        StandInMailHandler(name: name, pop3: pop3, acceptAnyPassword: acceptAnyPassword))
                }
            }
            .bind(host: host, port: port).get()
        return StandInMailServer(channel: channel)
    }

    /// Stops listening; open sessions end with it.
    public func stop() async { try? await channel.close() }
}

/// One stand-in mail session.
final class StandInMailHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let name: String
    private let pop3: Bool
    private let acceptAnyPassword: Bool
    private var imapReader = IMAPCommandReader()
    private var pop3Reader = POP3CommandReader()
    private var user: String?
    private var loggedIn = false

    init(name: String, pop3: Bool, acceptAnyPassword: Bool) {
        self.name = name
        self.pop3 = pop3
        self.acceptAnyPassword = acceptAnyPassword
    }

    func channelActive(context: ChannelHandlerContext) {
        send(
            pop3 ? "+OK \(name) POP3 ready." : "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN ID] \(name) IMAP ready.",
            context: context)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        let received = bytes.readBytes(length: bytes.readableBytes) ?? []
        if pop3 {
            pop3Reader.append(received)
            while case .command(let command) = pop3Reader.next() { pop3Command(command, context: context) }
        } else {
            imapReader.append(received)
            loop: while true {
                switch imapReader.next() {
                case .command(let command): imapCommand(command, context: context)
                case .continueLiteral: send("+ OK", context: context)
                case .malformed(let tag, _): send("\(tag) BAD Malformed.", context: context)
                case .incomplete, .tooLong: break loop
                }
            }
        }
    }

    private func accepts(_ user: String, _ password: String) -> Bool {
        acceptAnyPassword || password == "\(user.split(separator: "@").first?.lowercased() ?? "")-demo"
    }

    private func imapCommand(_ command: IMAPCommand, context: ChannelHandlerContext) {
        let tag = command.tag
        switch command.name {
        case "LOGIN" where command.arguments.count == 2:
            if accepts(command.arguments[0], command.arguments[1]) {
                user = command.arguments[0]
                loggedIn = true
                send(
                    "\(tag) OK [CAPABILITY IMAP4rev1 ID] Logged in at \(name) as \(command.arguments[0])",
                    context: context)
            } else {
                send("\(tag) NO [AUTHENTICATIONFAILED] Authentication failed.", context: context)
            }
        case "ID":
            send("* ID (\"name\" \"\(name)\" \"user\" \"\(user ?? "")\")", context: context)
            send("\(tag) OK ID completed.", context: context)
        case "SELECT" where loggedIn, "EXAMINE" where loggedIn:
            send("* 1 EXISTS", context: context)
            send("* 0 RECENT", context: context)
            send("\(tag) OK [READ-WRITE] Select completed.", context: context)
        case "NOOP", "CHECK":
            send("\(tag) OK Done.", context: context)
        case "LOGOUT":
            send("* BYE \(name) logging out.", context: context)
            send("\(tag) OK Logout completed.", context: context)
            context.close(promise: nil)
        default:
            send("\(tag) \(loggedIn ? "OK" : "BAD") \(command.name) at \(name).", context: context)
        }
    }

    private func pop3Command(_ command: POP3Command, context: ChannelHandlerContext) {
        switch command.name {
        case "USER":
            user = command.argument
            send("+OK", context: context)
        case "PASS":
            if let user, accepts(user, command.argument) {
                loggedIn = true
                send("+OK Logged in at \(name) as \(user)", context: context)
            } else {
                send("-ERR [AUTH] Authentication failed.", context: context)
            }
        case "STAT":
            send(loggedIn ? "+OK 1 120" : "-ERR Log in first.", context: context)
        case "QUIT":
            send("+OK \(name) signing off.", context: context)
            context.close(promise: nil)
        default:
            send(loggedIn ? "+OK \(command.name) at \(name)" : "-ERR Log in first.", context: context)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }

    private func send(_ line: String, context: ChannelHandlerContext) {
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: line + "\r\n")), promise: nil)
    }
}
