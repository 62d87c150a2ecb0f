import ArgumentParser
import BallastCore
import BallastMail
import NIOCore
import NIOHTTP1
import NIOPosix

/// `ballast sample-server`: a tiny HTTP server that says who it is, or with `--sip` a SIP
/// server that answers every request 200 (a pool member for sip-options checks), for labs and trials.
struct SampleServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample-server",
        abstract: "Run a sample HTTP server that answers every request with its name, or a SIP server (--sip), for the lab.")

    @Option(help: "ADDRESS:PORT to listen on.")
    var listen: String = "127.0.0.1:8081"

    @Option(help: "The name it answers with.")
    var name: String = "sample"

    @Flag(help: "Speak SIP over UDP and TCP instead of HTTP: every request but ACK is answered 200.")
    var sip = false

    @Flag(help: "Speak IMAP: logins with password USER-demo succeed and the answer names this server.")
    var imap = false

    @Flag(help: "Speak POP3, likewise.")
    var pop3 = false

    func run() async throws {
        guard let endpoint = Endpoint(listen) else {
            throw ValidationError("--listen \(listen) is not ADDRESS:PORT such as 127.0.0.1:8081")
        }
        let name = self.name
        if sip {
            try await SampleSIPServer.run(endpoint: endpoint, name: name)
            return
        }
        if imap || pop3 {
            let server = try await StandInMailServer.start(
                host: endpoint.address.description, port: endpoint.port, name: name, pop3: pop3,
                group: MultiThreadedEventLoopGroup.singleton)
            print("sample-server \(name) (\(pop3 ? "POP3" : "IMAP")) listening on \(endpoint)")
            try await server.channel.closeFuture.get()
            return
        }
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(SampleResponder(name: name))
                }
            }
            .bind(host: endpoint.address.description, port: endpoint.port).get()
        print("sample-server \(name) listening on \(endpoint)")
        try await channel.closeFuture.get()
    }
}

/// Answers `hello from NAME` to every request, keeping the connection alive when asked.
final class SampleResponder: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let name: String
    private var keepAlive = true

    init(name: String) {
        self.name = name
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            keepAlive = head.isKeepAlive
        case .body:
            break
        case .end:
            let body = ByteBuffer(string: "hello from \(name)\n")
            var head = HTTPResponseHead(version: .http1_1, status: .ok)
            head.headers.add(name: "Content-Type", value: "text/plain")
            head.headers.add(name: "Content-Length", value: "\(body.readableBytes)")
            head.headers.add(name: "X-Served-By", value: name)
            if !keepAlive { head.headers.add(name: "Connection", value: "close") }
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            let keepAlive = self.keepAlive
            context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
                if !keepAlive { context.close(promise: nil) }
            }
        }
    }
}
