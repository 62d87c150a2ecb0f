import BallastCodecs
import BallastCore
import NIOCore
import NIOPosix

/// The SIP side of `ballast sample-server --sip`: a stand-in front-end server that answers
/// every request but ACK with 200, over UDP and TCP on one address.
enum SampleSIPServer {
    static func run(endpoint: Endpoint, name: String) async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let udp = try await DatagramBootstrap(group: group)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(SampleSIPDatagramHandler(name: name))
                }
            }
            .bind(host: endpoint.address.description, port: endpoint.port).get()
        let tcp = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(SampleSIPStreamHandler(name: name))
                }
            }
            .bind(host: endpoint.address.description, port: endpoint.port).get()
        print("sample-server \(name) speaking SIP on udp and tcp \(endpoint)")
        try await udp.closeFuture.get()
        try await tcp.closeFuture.get()
    }

    static func answer(_ bytes: [UInt8], name: String, host: String, port: Int) -> [UInt8]? {
        guard let request = try? SIPMessageParser.parse(datagram: bytes), let method = request.method, method != "ACK"
        else { return nil }
        var response = SIPMessageWriter.response(
            to: request, status: 200, reason: "OK", toTag: name, sourceHost: host, sourcePort: port)
        response.add("Server", "ballast-sample \(name)")
        return SIPMessageWriter.encode(response)
    }
}

final class SampleSIPDatagramHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>
    let name: String

    init(name: String) { self.name = name }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        let remote = envelope.remoteAddress
        guard
            let reply = SampleSIPServer.answer(
                Array(envelope.data.readableBytesView), name: name, host: remote.ipAddress ?? "", port: remote.port ?? 0)
        else { return }
        let buffer = context.channel.allocator.buffer(bytes: reply)
        context.writeAndFlush(wrapOutboundOut(AddressedEnvelope(remoteAddress: remote, data: buffer)), promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {}
}

final class SampleSIPStreamHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let name: String
    private var received: [UInt8] = []

    init(name: String) { self.name = name }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        received += buffer.readBytes(length: buffer.readableBytes) ?? []
        let remote = context.channel.remoteAddress
        while let length = try? SIPMessageParser.frameLength(received[...]), length > 0 {
            let frame = Array(received[..<length])
            received.removeFirst(length)
            if let reply = SampleSIPServer.answer(frame, name: name, host: remote?.ipAddress ?? "", port: remote?.port ?? 0) {
                context.write(wrapOutboundOut(context.channel.allocator.buffer(bytes: reply)), promise: nil)
            }
        }
        if received.count > 65536 { context.close(promise: nil) }
        context.flush()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
}
