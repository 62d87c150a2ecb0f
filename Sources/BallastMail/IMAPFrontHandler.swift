import BallastCodecs
import BallastCore
import Logging
import NIOCore
import NIOSSL

/// Speaks IMAP to a client until it logs in: greeting, CAPABILITY, ID, NOOP, STARTTLS, LOGIN and
/// AUTHENTICATE PLAIN; then hands the connection to the server holding the user's mailbox.
final class IMAPFrontHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum Phase {
        case commands
        /// AUTHENTICATE PLAIN sent `+`; the next line is the client's response.
        case saslResponse(tag: String)
        /// A login is being checked; what the client sends meanwhile waits.
        case loggingIn
        case done
    }

    private static let maxFailures = 3
    private let runtime: MailRuntime
    private let clientAddress: String
    private var isTLS: Bool
    private var reader = IMAPCommandReader()
    private var phase = Phase.commands
    private var failures = 0

    init(runtime: MailRuntime, clientAddress: String, isTLS: Bool) {
        self.runtime = runtime
        self.clientAddress = clientAddress
        self.isTLS = isTLS
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

    private func process(context: ChannelHandlerContext) {
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
                runtime.logger.notice("imap client closed: over-long command", metadata: ["client": "\(clientAddress)"])
                context.close(promise: nil)
                phase = .done
                return
            case .malformed(let tag, let reason):
                runtime.logger.notice("imap command malformed", metadata: ["client": "\(clientAddress)", "reason": "\(reason)"])
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
            guard !isTLS, let tls = runtime.tls else {
                send("\(tag) BAD STARTTLS is not available here.", context: context)
                return
            }
            // Plain text the client pipelined after STARTTLS is dropped (CVE-2011-0411 class).
            reader = IMAPCommandReader()
            send("\(tag) OK Begin TLS negotiation now.", context: context)
            isTLS = true
            try? context.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls), position: .first)
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
        let outcome = MailLogin.start(
            login: user, password: password, dialect: .imap, runtime: runtime, eventLoop: context.eventLoop,
            clientAddress: clientAddress)
        outcome.assumeIsolated().whenComplete { [self] result in
            guard case .loggingIn = phase, context.channel.isActive else {
                if case .success(.ready(let backend, _, _, _)) = result { backend.close(promise: nil) }
                return
            }
            switch result {
            case .success(.ready(let backend, let database, let server, let finalLine)):
                phase = .done
                runtime.sessions.add(database: database, server: server, client: context.channel, backend: backend)
                send("\(tag) \(finalLine)", context: context)
                MailLogin.splice(client: context, front: self, backend: backend, leftover: reader.buffered)
            case .success(.badCredentials):
                failures += 1
                send("\(tag) NO [AUTHENTICATIONFAILED] Authentication failed.", context: context)
                if failures >= Self.maxFailures {
                    send("* BYE Too many invalid login attempts.", context: context)
                    phase = .done
                    context.close(promise: nil)
                } else {
                    phase = .commands
                    process(context: context)
                }
            case .success(.unavailable), .failure:
                send("\(tag) NO [UNAVAILABLE] The mailbox is not available now; try again shortly.", context: context)
                phase = .commands
                process(context: context)
            }
        }
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

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        runtime.logger.debug("imap client error", metadata: ["client": "\(clientAddress)", "error": "\(error)"])
        context.close(promise: nil)
    }

    private func send(_ line: String, context: ChannelHandlerContext) {
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: line + "\r\n")), promise: nil)
    }
}
