public import BallastCodecs
public import NIOCore
import NIOPosix

/// A stand-in SIP front end on UDP: answers every request but ACK with 200, so that
/// sip-options checks see it up; stopping it takes its pool down.
public final class TestSIPServer: Sendable {
    /// Its UDP channel.
    public let channel: any Channel
    /// The port it listens on.
    public let port: Int

    private init(channel: any Channel) {
        self.channel = channel
        self.port = channel.localAddress?.port ?? 0
    }

    /// Starts one on `host`:`port` (0 for any free port).
    public static func start(host: String = "127.0.0.1", port: Int = 0, group: any EventLoopGroup) async throws
        -> TestSIPServer
    {
        let channel = try await DatagramBootstrap(group: group)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(TestSIPResponder())
                }
            }
            .bind(host: host, port: port).get()
        return TestSIPServer(channel: channel)
    }

    /// Stops answering.
    public func stop() async {
        try? await channel.close()
    }
}

final class TestSIPResponder: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        guard let request = try? SIPMessageParser.parse(datagram: Array(envelope.data.readableBytesView)),
            let method = request.method, method != "ACK"
        else { return }
        let response = SIPMessageWriter.response(
            to: request, status: 200, reason: "OK", toTag: "fe", sourceHost: envelope.remoteAddress.ipAddress ?? "",
            sourcePort: envelope.remoteAddress.port ?? 0)
        let buffer = context.channel.allocator.buffer(bytes: SIPMessageWriter.encode(response))
        context.writeAndFlush(
            wrapOutboundOut(AddressedEnvelope(remoteAddress: envelope.remoteAddress, data: buffer)), promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {}
}
