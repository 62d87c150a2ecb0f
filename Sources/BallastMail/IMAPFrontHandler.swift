import BallastCodecs
import BallastCore
import BallastNIO
import BallastReporting
import Logging
import NIOCore
import NIOSSL

/// Speaks IMAP to a client until it logs in: greeting, CAPABILITY, ID, NOOP, STARTTLS, LOGIN and
/// AUTHENTICATE PLAIN; then hands the connection to the server holding the user's mailbox.
final class IMAPFrontHandler: ChannelInboundHandler, MailFront {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private static let maxFailures = 3
    private let runtime: MailRuntime
    private let clientAddress: String
    private var isTLS: Bool
    private var reader = IMAPCommandReader()
    var phase = MailFrontPhase.commands
    private var failures = 0
    private var loginTag = "*"

    let loginDeadline: ConnectionDeadline
    var clientDone = false
    let dialect = MailDialect.imap

    init(runtime: MailRuntime, clientAddress: String, isTLS: Bool, loginDeadline: ConnectionDeadline) {
        self.runtime = runtime
        self.clientAddress = clientAddress
        self.isTLS = isTLS
        self.loginDeadline = loginDeadline
    }

    private var capabilities: String {
        var list = ["IMAP4rev1", "SASL-IR", "LITERAL+", "ID", "AUTH=PLAIN"]
        if !isTLS && runtime.tls != nil { list.append("STARTTLS") }
        return list.joined(separator: " ")
    }

    func channelActive(context: ChannelHandlerContext) {
        send("* OK [CAPABILITY \(capabilities)] Ballast IMAP proxy ready.", context: context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        reader.append(bytes.readBytes(length: bytes.readableBytes) ?? [])
        process(context: context)
    }

    func process(context: ChannelHandlerContext) {
        loop: while true {
            if case .saslResponse(let tag) = phase {
                guard let line = takeLine(context: context) else {
                    if reader.buffered.count > reader.maxLine {
                        phase = .done
                        context.close(promise: nil)
                    }
                    return
                }
                phase = .commands
                if line == "*" {
                    send("\(tag) BAD Authentication aborted by client.", context: context)
                    continue
                }
                guard let plain = SASLPlain.decode(line) else {
                    send("\(tag) BAD Invalid SASL PLAIN response.", context: context)
                    continue
                }
                login(tag: tag, user: plain.user, password: plain.password, context: context)
                return
            }
            guard case .commands = phase else { return }
            switch reader.next() {
            case .incomplete:
                return
            case .continueLiteral:
                send("+ OK", context: context)
            case .tooLong:
                send("* BYE Command line too long.", context: context)
                BadInputLog.shared.report(
                    listener: runtime.relayName, reason: "command over the length limit; closed", client: clientAddress,
                    logger: runtime.logger)
                context.close(promise: nil)
                phase = .done
                return
            case .malformed(let tag, let reason):
                BadInputLog.shared.report(
                    listener: runtime.relayName, reason: "malformed command", client: clientAddress,
                    logger: runtime.logger,
                    detail: reason)
                send("\(tag) BAD \(reason).", context: context)
            case .command(let command):
                handle(command, context: context)
                if case .commands = phase { continue loop }
                return
            }
        }
    }

    private func handle(_ command: IMAPCommand, context: ChannelHandlerContext) {
        let tag = command.tag
        switch command.name {
        case "CAPABILITY":
            send("* CAPABILITY \(capabilities)", context: context)
            send("\(tag) OK Pre-login capabilities listed.", context: context)
        case "NOOP":
            send("\(tag) OK NOOP completed.", context: context)
        case "ID":
            send("* ID (\"name\" \"Ballast\")", context: context)
            send("\(tag) OK ID completed.", context: context)
        case "LOGOUT":
            send("* BYE Logging out.", context: context)
            send("\(tag) OK Logout completed.", context: context)
            phase = .done
            context.close(promise: nil)
        case "STARTTLS":
            // Plain text the client pipelined after STARTTLS is dropped (CVE-2011-0411 class).
            if startTLS(
                runtime.tls, alreadyOn: isTLS, accept: "\(tag) OK Begin TLS negotiation now.",
                refusal: "\(tag) BAD STARTTLS is not available here.",
                handshake: runtime.relay.map(runtime.handshakeDeadline), context: context)
            {
                reader = IMAPCommandReader()
                isTLS = true
            }
        case "LOGIN":
            guard command.arguments.count == 2 else {
                send("\(tag) BAD LOGIN takes a user name and a password.", context: context)
                return
            }
            login(tag: tag, user: command.arguments[0], password: command.arguments[1], context: context)
        case "AUTHENTICATE":
            guard let mechanism = command.arguments.first?.uppercased(), mechanism == "PLAIN" else {
                send("\(tag) NO [CANNOT] Only AUTHENTICATE PLAIN is supported.", context: context)
                return
            }
            guard command.arguments.count > 1 else {
                phase = .saslResponse(tag: tag)
                send("+ ", context: context)
                return
            }
            guard let plain = SASLPlain.decode(command.arguments[1]) else {
                send("\(tag) BAD Invalid SASL PLAIN response.", context: context)
                return
            }
            login(tag: tag, user: plain.user, password: plain.password, context: context)
        default:
            send("\(tag) BAD Log in first: \(command.name) is not valid before LOGIN.", context: context)
        }
    }

    private func login(tag: String, user: String, password: String, context: ChannelHandlerContext) {
        phase = .loggingIn
        loginTag = tag
        let outcome = MailLogin.start(
            login: user, password: password, dialect: .imap, runtime: runtime, eventLoop: context.eventLoop,
            clientAddress: clientAddress, clientIP: context.channel.remoteAddress?.ipAddress.flatMap { IPAddress($0) })
        MailLogin.finish(outcome, front: self, runtime: runtime, context: context)
    }

    /// The next line (for a SASL response), bounded like a command.
    private func takeLine(context: ChannelHandlerContext) -> String? {
        let bytes = reader.buffered
        guard let newline = bytes.firstIndex(of: UInt8(ascii: "\n")) else { return nil }
        var end = newline
        if end > 0 && bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        let line = String(decoding: bytes[..<end], as: UTF8.self)
        var rest = IMAPCommandReader()
        rest.append(bytes[(newline + 1)...])
        reader = rest
        return line
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            clientShutInput(context: context)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        runtime.logger.debug("imap client error", metadata: ["client": "\(clientAddress)", "error": "\(error)"])
        context.close(promise: nil)
    }

    private func send(_ line: String, context: ChannelHandlerContext) { sendLine(line, context: context) }

    // MARK: MailFront

    var leftover: [UInt8] { reader.buffered }

    func successAnswer(_ finalLine: String) -> String { "\(loginTag) \(finalLine)" }

    func refused() -> (lines: [String], close: Bool) {
        failures += 1
        let answer = "\(loginTag) NO [AUTHENTICATIONFAILED] Authentication failed."
        return failures >= Self.maxFailures
            ? ([answer, "* BYE Too many invalid login attempts."], true) : ([answer], false)
    }

    var unavailableAnswer: String {
        "\(loginTag) NO [UNAVAILABLE] The mailbox is not available now; try again shortly."
    }

}
