import BallastCodecs
public import NIOCore
import NIOPosix

/// A stand-in SIP front end for labs and tests: answers every request but ACK with 200 over
/// UDP and TCP on one address, so that sip-options checks see it up; closing it takes its
/// pool down. `ballast sample-server --sip` runs one.
public final class StandInFrontEnd: Sendable {
    /// The UDP channel.
    public let udp: any Channel
    /// The TCP listener on the same port.
    public let tcp: any Channel

    /// The port both listen on.
    public var port: Int { udp.localAddress?.port ?? 0 }

    private init(udp: any Channel, tcp: any Channel) {
        self.udp = udp
        self.tcp = tcp
    }

    /// Binds UDP and TCP on `host`:`port`; `name` goes in the Server header and the To tag.
    public static func start(
        host: String, port: Int, name: String, group: any EventLoopGroup
    ) async throws
        -> StandInFrontEnd
    {
        let udp = try await DatagramBootstrap(group: group)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(StandInDatagramHandler(name: name))
                }
            }
            .bind(host: host, port: port).get()
        do {
            let tcp = try await ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(StandInStreamHandler(name: name))
                    }
                }
                .bind(host: host, port: udp.localAddress?.port ?? port).get()
            return StandInFrontEnd(udp: udp, tcp: tcp)
        } catch {
            try? await udp.close()
            throw error
        }
    }

    /// Stops answering.
    public func stop() async {
        try? await udp.close()
        try? await tcp.close()
    }

    static func answer(_ request: SIPMessage, name: String, host: String, port: Int) -> [UInt8]? {
        guard let method = request.method, method != "ACK" else { return nil }
        var response = SIPMessageWriter.response(
            to: request, status: 200, reason: "OK", toTag: name, sourceHost: host, sourcePort: port)
        response.add("Server", "ballast-sample \(name)")
        return SIPMessageWriter.encode(response)
    }
}

final class StandInDatagramHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>
    private let name: String

    init(name: String) { self.name = name }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        let remote = envelope.remoteAddress
        guard let request = try? SIPMessageParser.parse(datagram: Array(envelope.data.readableBytesView)),
            let reply = StandInFrontEnd.answer(
                request, name: name, host: remote.ipAddress ?? "", port: remote.port ?? 0)
        else { return }
        let buffer = context.channel.allocator.buffer(bytes: reply)
        context.writeAndFlush(wrapOutboundOut(AddressedEnvelope(remoteAddress: remote, data: buffer)), promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {}
}

final class StandInStreamHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private let name: String
    private var received: [UInt8] = []

    init(name: String) { self.name = name }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        received += buffer.readBytes(length: buffer.readableBytes) ?? []
        let remote = context.channel.remoteAddress
        while let length = try? SIPMessageParser.frameLength(received[...]) {
            if let request = try? SIPMessageParser.parse(frame: received[..<length]),
                let reply = StandInFrontEnd.answer(
                    request, name: name, host: remote?.ipAddress ?? "", port: remote?.port ?? 0)
            {
                context.write(wrapOutboundOut(context.channel.allocator.buffer(bytes: reply)), promise: nil)
            }
            received.removeFirst(length)
        }
        if received.count > 65536 { context.close(promise: nil) }
        context.flush()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
}
