import ArgumentParser
import BallastConfig
import BallastCore
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// Where and how the commands that talk to a running node reach its admin API.
struct AdminOptions: ParsableArguments {
    @Option(name: [.short, .customLong("config")], help: "Config file to read the admin address and token from.")
    var config: String?

    @Option(help: "The admin API's ADDRESS:PORT; from the config's admin.listen, else 127.0.0.1:9900.")
    var admin: String?

    @Option(help: "Bearer token; from BALLAST_TOKEN, else the config's admin.token.")
    var token: String?

    /// The endpoint and token to use.
    func resolve() throws -> (endpoint: Endpoint, token: String?) {
        var endpoint = Endpoint(address: IPAddress(v4: 127, 0, 0, 1), port: 9900)
        var token = token ?? ProcessInfo.processInfo.environment["BALLAST_TOKEN"]
        if let config {
            do {
                let topology = try ConfigLoader.load(path: config)
                if let admin = topology.admin {
                    endpoint = admin.listen
                    token = token ?? admin.token
                }
            } catch {
                throw ValidationError("\(config) is not a valid config:\n\(error)")
            }
        }
        if let admin {
            guard let parsed = Endpoint(admin) else {
                throw ValidationError("--admin \(admin) is not ADDRESS:PORT such as 127.0.0.1:9900")
            }
            endpoint = parsed
        }
        return (endpoint, token)
    }
}

/// A minimal HTTP/1.1 client for the admin API: one request per connection.
enum AdminClient {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Sends a request (with `body`, when given) and returns the status and body.
    static func request(
        _ method: HTTPMethod, path: String, endpoint: Endpoint, token: String?, body: String? = nil
    ) async throws -> (status: Int, body: String) {
        try await request(method, path: path, endpoint: endpoint, token: token, bytes: body.map { Array($0.utf8) })
    }

    /// Sends a request with a body of raw bytes (a backup file, say) and returns the status and body.
    static func request(
        _ method: HTTPMethod, path: String, endpoint: Endpoint, token: String?, bytes body: [UInt8]?
    ) async throws -> (status: Int, body: String) {
        let group = MultiThreadedEventLoopGroup.singleton
        let promise = group.next().makePromise(of: (Int, String).self)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .connectTimeout(.seconds(5))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(ResponseCollector(promise: promise))
                    }
                }
                .connect(host: endpoint.address.description, port: endpoint.port).get()
        } catch {
            promise.fail(error)
            throw Failure(
                description:
                    "cannot reach the admin API at \(endpoint) (\(error)); is ballast running with admin.listen set?")
        }
        var head = HTTPRequestHead(version: .http1_1, method: method, uri: path)
        head.headers.add(name: "Host", value: endpoint.description)
        head.headers.add(name: "Connection", value: "close")
        head.headers.add(name: "Content-Length", value: "\(body?.count ?? 0)")
        if let token { head.headers.add(name: "Authorization", value: "Bearer \(token)") }
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        if let body { channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(bytes: body))), promise: nil) }
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        let (status, body) = try await promise.futureResult.get()
        try? await channel.close()
        return (status, body)
    }

    private final class ResponseCollector: ChannelInboundHandler {
        typealias InboundIn = HTTPClientResponsePart
        private let promise: EventLoopPromise<(Int, String)>
        private var status = 0
        private var body = ByteBuffer()

        init(promise: EventLoopPromise<(Int, String)>) {
            self.promise = promise
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head): status = Int(head.status.code)
            case .body(var part): body.writeBuffer(&part)
            case .end: promise.succeed((status, String(buffer: body)))
            }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            promise.fail(error)
            context.close(promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            promise.fail(Failure(description: "the admin API closed the connection before answering"))
        }
    }
}
