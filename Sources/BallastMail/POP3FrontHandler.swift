import BallastCodecs
import BallastCore
import BallastNIO
import BallastReporting
import Logging
import NIOCore
import NIOSSL

/// Speaks POP3 to a client until it logs in: greeting, CAPA, STLS, USER and PASS, AUTH PLAIN;
/// then hands the connection to the server holding the user's mailbox.
final class POP3FrontHandler: ChannelInboundHandler, MailFront {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private static let maxFailures = 3
    private let runtime: MailRuntime
    private let clientAddress: String
    private var isTLS: Bool
    private var reader = POP3CommandReader()
    var phase = MailFrontPhase.commands
    private var user: String?
    private var failures = 0

    let loginDeadline: ConnectionDeadline
    var clientDone = false
    let dialect = MailDialect.pop3

    init(runtime: MailRuntime, clientAddress: String, isTLS: Bool, loginDeadline: ConnectionDeadline) {
        self.runtime = runtime
        self.clientAddress = clientAddress
        self.isTLS = isTLS
        self.loginDeadline = loginDeadline
    }

    func channelActive(context: ChannelHandlerContext) {
        send("+OK Ballast POP3 proxy ready.", context: context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        reader.append(bytes.readBytes(length: bytes.readableBytes) ?? [])
        process(context: context)
    }

    func process(context: ChannelHandlerContext) {
        while true {
            switch phase {
            case .commands: break
            case .saslResponse:
                let (line, tooLong) = reader.nextLine()
                if tooLong {
                    phase = .done
                    context.close(promise: nil)
                }
                guard let line else { return }
                phase = .commands
                authenticate(line, context: context)
                continue
            case .loggingIn, .done: return
            }
            switch reader.next() {
            case .incomplete:
                return
            case .tooLong:
                send("-ERR Line too long.", context: context)
                BadInputLog.shared.report(
                    listener: runtime.relayName, reason: "line over the length limit; closed", client: clientAddress,
                    logger: runtime.logger)
                phase = .done
                context.close(promise: nil)
                return
            case .malformed(let reason):
                BadInputLog.shared.report(
                    listener: runtime.relayName, reason: "malformed command", client: clientAddress,
                    logger: runtime.logger,
                    detail: reason)
                send("-ERR \(reason).", context: context)
            case .command(let command):
                handle(command, context: context)
            }
        }
    }

    private func authenticate(_ line: String, context: ChannelHandlerContext) {
        guard line != "*" else {
            send("-ERR Authentication aborted.", context: context)
            return
        }
        guard let plain = SASLPlain.decode(line) else {
            send("-ERR Invalid SASL PLAIN response.", context: context)
            return
        }
        login(user: plain.user, password: plain.password, context: context)
    }

    private func handle(_ command: POP3Command, context: ChannelHandlerContext) {
        switch command.name {
        case "CAPA":
            var lines = ["+OK Capability list follows", "USER", "SASL PLAIN", "RESP-CODES", "AUTH-RESP-CODE"]
            if !isTLS && runtime.tls != nil { lines.append("STLS") }
            send((lines + ["."]).joined(separator: "\r\n"), context: context)
        case "NOOP":
            send("+OK", context: context)
        case "QUIT":
            send("+OK Logging out.", context: context)
            phase = .done
            context.close(promise: nil)
        case "STLS":
            if startTLS(
                runtime.tls, alreadyOn: isTLS, accept: "+OK Begin TLS negotiation.",
                refusal: "-ERR STLS is not available here.",
                handshake: runtime.relay.map(runtime.handshakeDeadline), context: context)
            {
                reader = POP3CommandReader()
                isTLS = true
            }
        case "USER":
            guard !command.argument.isEmpty else {
                send("-ERR USER takes a name.", context: context)
                return
            }
            user = command.argument
            send("+OK", context: context)
        case "PASS":
            guard let user else {
                send("-ERR USER first.", context: context)
                return
            }
            login(user: user, password: command.argument, context: context)
        case "AUTH":
            let parts = command.argument.split(separator: " ", maxSplits: 1).map(String.init)
            guard parts.first?.uppercased() == "PLAIN" else {
                send("-ERR [AUTH] Only AUTH PLAIN is supported.", context: context)
                return
            }
            if parts.count == 2 {
                guard let plain = SASLPlain.decode(parts[1]) else {
                    send("-ERR Invalid SASL PLAIN response.", context: context)
                    return
                }
                login(user: plain.user, password: plain.password, context: context)
            } else {
                phase = .saslResponse(tag: "")
                send("+ ", context: context)
            }
        default:
            send("-ERR Log in first: \(command.name) is not valid before PASS.", context: context)
        }
    }

    private func login(user: String, password: String, context: ChannelHandlerContext) {
        phase = .loggingIn
        let outcome = MailLogin.start(
            login: user, password: password, dialect: .pop3, runtime: runtime, eventLoop: context.eventLoop,
            clientAddress: clientAddress, clientIP: context.channel.remoteAddress?.ipAddress.flatMap { IPAddress($0) })
        MailLogin.finish(outcome, front: self, runtime: runtime, context: context)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            clientShutInput(context: context)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        runtime.logger.debug("pop3 client error", metadata: ["client": "\(clientAddress)", "error": "\(error)"])
        context.close(promise: nil)
    }

    private func send(_ line: String, context: ChannelHandlerContext) { sendLine(line, context: context) }

    // MARK: MailFront

    var leftover: [UInt8] { reader.buffered }

    func successAnswer(_ finalLine: String) -> String { finalLine }

    func refused() -> (lines: [String], close: Bool) {
        failures += 1
        user = nil
        return (["-ERR [AUTH] Authentication failed."], failures >= Self.maxFailures)
    }

    var unavailableAnswer: String { "-ERR [SYS/TEMP] The mailbox is not available now; try again shortly." }

}
