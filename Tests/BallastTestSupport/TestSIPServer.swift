public import BallastCodecs
public import NIOCore
import NIOPosix

/// A stand-in SIP front end on UDP and TCP: answers every request but ACK with 200, so
/// that sip-options checks see it up; stopping it takes its pool down.
public final class TestSIPServer: Sendable {
    /// Its UDP channel.
    public let channel: any Channel
    /// Its TCP listener on the same port.
    public let tcpChannel: any Channel
    /// The port it listens on.
    public let port: Int

    private init(channel: any Channel, tcpChannel: any Channel) {
        self.channel = channel
        self.tcpChannel = tcpChannel
        self.port = channel.localAddress?.port ?? 0
    }

    /// Starts one on `host`:`port` (0 for a port free for both UDP and TCP).
    public static func start(host: String = "127.0.0.1", port: Int = 0, group: any EventLoopGroup) async throws
        -> TestSIPServer
    {
        // A port chosen here may be taken by the time both sockets bind: try a few.
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await bind(host: host, port: port == 0 ? Ports.freeForTCPAndUDP() : port, group: group)
            } catch where port == 0 && attempt < 5 {
                continue
            }
        }
    }

    private static func bind(host: String, port: Int, group: any EventLoopGroup) async throws -> TestSIPServer {
        let channel = try await DatagramBootstrap(group: group)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(TestSIPResponder())
                }
            }
            .bind(host: host, port: port).get()
        do {
            let tcp = try await ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(TestSIPStreamResponder())
                    }
                }
                .bind(host: host, port: port).get()
            return TestSIPServer(channel: channel, tcpChannel: tcp)
        } catch {
            try? await channel.close()
            throw error
        }
    }

    /// Stops answering.
    public func stop() async {
        try? await channel.close()
        try? await tcpChannel.close()
    }

    static func answer(_ request: SIPMessage, host: String, port: Int) -> [UInt8]? {
        guard let method = request.method, method != "ACK" else { return nil }
        let response = SIPMessageWriter.response(
            to: request, status: 200, reason: "OK", toTag: "fe", sourceHost: host, sourcePort: port)
        return SIPMessageWriter.encode(response)
    }
}

final class TestSIPStreamResponder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private var received: [UInt8] = []

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        received += buffer.readBytes(length: buffer.readableBytes) ?? []
        let remote = context.channel.remoteAddress
        while let length = try? SIPMessageParser.frameLength(received[...]) {
            let frame = received[..<length]
            if let request = try? SIPMessageParser.parse(frame: frame),
                let reply = TestSIPServer.answer(request, host: remote?.ipAddress ?? "", port: remote?.port ?? 0)
            {
                context.write(wrapOutboundOut(context.channel.allocator.buffer(bytes: reply)), promise: nil)
            }
            received.removeFirst(length)
        }
        context.flush()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
}

final class TestSIPResponder: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        guard let request = try? SIPMessageParser.parse(datagram: Array(envelope.data.readableBytesView)),
            let reply = TestSIPServer.answer(
                request, host: envelope.remoteAddress.ipAddress ?? "", port: envelope.remoteAddress.port ?? 0)
        else { return }
        let buffer = context.channel.allocator.buffer(bytes: reply)
        context.writeAndFlush(
            wrapOutboundOut(AddressedEnvelope(remoteAddress: envelope.remoteAddress, data: buffer)), promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {}
}
