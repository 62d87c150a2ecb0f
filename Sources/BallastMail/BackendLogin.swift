import BallastCodecs
import NIOCore

/// The mail protocol a relay speaks.
enum MailDialect: Sendable {
    case imap
    case pop3
}

/// How the server answered Ballast's login on the user's behalf.
enum BackendLoginResult: Sendable {
    /// Logged in; `finalLine` is the server's success line (IMAP: after the tag), passed to the client.
    case loggedIn(finalLine: String)
    /// The server refused the login, or did not speak the protocol; `line` is what it said.
    case refused(line: String)
}

/// On a fresh connection to a mail server: reads the greeting, logs in with the user's own
/// credentials (the way Dovecot's proxy does), and reports the result. Removed once done.
final class BackendLoginHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    private enum Step {
        case greeting
        case imapLogin
        case pop3User
        case pop3Pass
        case done
    }

    private static let tag = "BLST1"
    private static let maxLine = 16_384
    private let dialect: MailDialect
    private let user: String
    private let password: String
    private let promise: EventLoopPromise<BackendLoginResult>
    private var step = Step.greeting
    private var buffer: [UInt8] = []

    init(dialect: MailDialect, user: String, password: String, promise: EventLoopPromise<BackendLoginResult>) {
        self.dialect = dialect
        self.user = user
        self.password = password
        self.promise = promise
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        buffer.append(contentsOf: bytes.readBytes(length: bytes.readableBytes) ?? [])
        while step != .done, let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
            var end = newline
            if end > 0 && buffer[end - 1] == UInt8(ascii: "\r") { end -= 1 }
            let line = String(decoding: buffer[..<end], as: UTF8.self)
            buffer.removeFirst(newline + 1)
            handle(line, context: context)
        }
        if step != .done && buffer.count > Self.maxLine {
            finish(.refused(line: "an over-long line"), context: context)
        }
    }

    private func handle(_ line: String, context: ChannelHandlerContext) {
        switch (dialect, step) {
        case (.imap, .greeting):
            guard line.hasPrefix("* OK") else { return finish(.refused(line: line), context: context) }
            step = .imapLogin
            send(
                "\(Self.tag) LOGIN \(IMAPCommandReader.quoted(user)) \(IMAPCommandReader.quoted(password))",
                context: context)
        case (.imap, .imapLogin):
            guard line.hasPrefix("\(Self.tag) ") else { return }  // untagged data before the result
            let result = String(line.dropFirst(Self.tag.count + 1))
            finish(result.hasPrefix("OK") ? .loggedIn(finalLine: result) : .refused(line: result), context: context)
        case (.pop3, .greeting):
            guard line.hasPrefix("+OK") else { return finish(.refused(line: line), context: context) }
            step = .pop3User
            send("USER \(user)", context: context)
        case (.pop3, .pop3User):
            guard line.hasPrefix("+OK") else { return finish(.refused(line: line), context: context) }
            step = .pop3Pass
            send("PASS \(password)", context: context)
        case (.pop3, .pop3Pass):
            finish(line.hasPrefix("+OK") ? .loggedIn(finalLine: line) : .refused(line: line), context: context)
        default:
            break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(.refused(line: "the server closed the connection"), context: context)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(.refused(line: "\(error)"), context: context)
        context.close(promise: nil)
    }

    private func send(_ line: String, context: ChannelHandlerContext) {
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: line + "\r\n")), promise: nil)
    }

    private func finish(_ result: BackendLoginResult, context: ChannelHandlerContext) {
        guard step != .done else { return }
        step = .done
        if case .refused = result { context.close(promise: nil) }
        promise.succeed(result)
    }

    typealias OutboundOut = ByteBuffer
}
