import BallastCodecs
import BallastCore
import Logging
import NIOCore
import NIOSSL

/// Speaks POP3 to a client until it logs in: greeting, CAPA, STLS, USER and PASS, AUTH PLAIN;
/// then hands the connection to the server holding the user's mailbox.
final class POP3FrontHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum Phase {
        case commands
        case saslResponse
        case loggingIn
        case done
    }

    private static let maxFailures = 3
    private let runtime: MailRuntime
    private let clientAddress: String
    private var isTLS: Bool
    private var reader = POP3CommandReader()
    private var phase = Phase.commands
    private var user: String?
    private var failures = 0

    init(runtime: MailRuntime, clientAddress: String, isTLS: Bool) {
        self.runtime = runtime
        self.clientAddress = clientAddress
        self.isTLS = isTLS
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

    private func process(context: ChannelHandlerContext) {
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
                runtime.logger.notice("pop3 client closed: over-long line", metadata: ["client": "\(clientAddress)"])
                phase = .done
                context.close(promise: nil)
                return
            case .malformed(let reason):
                runtime.logger.notice("pop3 command malformed", metadata: ["client": "\(clientAddress)", "reason": "\(reason)"])
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
            guard !isTLS, let tls = runtime.tls else {
                send("-ERR STLS is not available here.", context: context)
                return
            }
            reader = POP3CommandReader()
            send("+OK Begin TLS negotiation.", context: context)
            isTLS = true
            try? context.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls), position: .first)
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
                phase = .saslResponse
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
                send(finalLine, context: context)
                MailLogin.splice(client: context, front: self, backend: backend, leftover: reader.buffered)
            case .success(.badCredentials):
                failures += 1
                self.user = nil
                send("-ERR [AUTH] Authentication failed.", context: context)
                if failures >= Self.maxFailures {
                    phase = .done
                    context.close(promise: nil)
                } else {
                    phase = .commands
                    process(context: context)
                }
            case .success(.unavailable), .failure:
                send("-ERR [SYS/TEMP] The mailbox is not available now; try again shortly.", context: context)
                phase = .commands
                process(context: context)
            }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        runtime.logger.debug("pop3 client error", metadata: ["client": "\(clientAddress)", "error": "\(error)"])
        context.close(promise: nil)
    }

    private func send(_ line: String, context: ChannelHandlerContext) {
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: line + "\r\n")), promise: nil)
    }
}
