import BallastCodecs
import BallastCore
import BallastNIO
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

/// Sends one SIP OPTIONS over UDP, TCP or TLS and judges the status of the answer.
enum SIPOptionsProbe {
    static func run(
        _ target: ProbeTarget, probe: Check.SIPProbe, on eventLoop: any EventLoop
    )
        -> EventLoopFuture<ProbeResult>
    {
        let promise = eventLoop.makePromise(of: ProbeResult.self)
        let completion = NIOLoopBound(ProbeCompletion(promise: promise), eventLoop: eventLoop)
        let timeout = TimeAmount(target.check.timeout)
        let deadline = eventLoop.assumeIsolated().scheduleTask(in: timeout) {
            completion.value.finish(.failed("no SIP answer within \(target.check.timeout)"))
        }
        let remote = SocketAddress(target.endpoint)
        let connected: EventLoopFuture<any Channel>
        switch probe.transport {
        case .udp:
            connected = DatagramBootstrap(group: eventLoop)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            SIPDatagramProbeHandler(
                                probe: probe, remote: remote, target: target.endpoint, completion: completion.value))
                    }
                }
                .connect(to: remote)
        case .tcp, .tls:
            connected = ClientBootstrap(group: eventLoop)
                .connectTimeout(timeout)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let sync = channel.pipeline.syncOperations
                        if let context = target.tlsContext {
                            try sync.addHandler(
                                try NIOSSLClientHandler(context: context, serverHostname: target.serverName))
                        }
                        try sync.addHandler(
                            SIPStreamProbeHandler(
                                probe: probe, transport: probe.transport, target: target.endpoint,
                                completion: completion.value))
                    }
                }
                .connect(to: remote)
        }
        connected.assumeIsolated().whenComplete { result in
            switch result {
            case .success(let channel): completion.value.channel = channel
            case .failure(let error): completion.value.finish(.failed(Probe.describe(error)))
            }
        }
        return promise.futureResult.always { _ in deadline.cancel() }
    }

    /// The OPTIONS request, with a fresh branch, tag and Call-ID.
    static func request(
        transport: SIPSettings.Transport, local: SocketAddress?, target: Endpoint
    ) -> (
        bytes: [UInt8], callID: String
    ) {
        let host = target.address.family == .v6 ? "[\(target.address)]" : "\(target.address)"
        let localHost = local?.ipAddress.map { local?.protocol == .inet6 ? "[\($0)]" : $0 } ?? host
        let localPort = local?.port ?? 5060
        let callID = "\(UInt64.random(in: 1...UInt64.max))@ballast-check"
        var message = SIPMessage(startLine: .request(method: "OPTIONS", uri: "sip:\(host):\(target.port)"))
        message.add(
            "Via",
            "SIP/2.0/\(transport.rawValue.uppercased()) \(localHost):\(localPort);branch=z9hG4bK\(UInt64.random(in: 1...UInt64.max));rport"
        )
        message.add("Max-Forwards", "70")
        message.add("From", "<sip:ballast-check@\(localHost)>;tag=\(UInt32.random(in: 1...UInt32.max))")
        message.add("To", "<sip:\(host):\(target.port)>")
        message.add("Call-ID", callID)
        message.add("CSeq", "1 OPTIONS")
        message.add("User-Agent", "ballast-check")
        message.add("Accept", "application/sdp")
        return (SIPMessageWriter.encode(message), callID)
    }

    /// Judges an answer to our OPTIONS; nil when it is not the final answer to it.
    static func judge(_ message: SIPMessage, callID: String, probe: Check.SIPProbe) -> ProbeResult? {
        guard let status = message.status, message.callID == callID, status >= 200 else { return nil }
        if probe.expectStatus.contains(status) { return .passed("SIP OPTIONS answered \(status)") }
        let range = probe.expectStatus
        let expected =
            range.lowerBound == range.upperBound ? "\(range.lowerBound)" : "\(range.lowerBound)-\(range.upperBound)"
        return .failed("SIP OPTIONS answered \(status), expected \(expected)")
    }
}

final class SIPDatagramProbeHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    private let probe: Check.SIPProbe
    private let remote: SocketAddress
    private let target: Endpoint
    private let completion: ProbeCompletion
    private var callID = ""

    init(probe: Check.SIPProbe, remote: SocketAddress, target: Endpoint, completion: ProbeCompletion) {
        self.probe = probe
        self.remote = remote
        self.target = target
        self.completion = completion
    }

    func channelActive(context: ChannelHandlerContext) {
        let request = SIPOptionsProbe.request(transport: .udp, local: context.channel.localAddress, target: target)
        callID = request.callID
        let buffer = context.channel.allocator.buffer(bytes: request.bytes)
        context.writeAndFlush(wrapOutboundOut(AddressedEnvelope(remoteAddress: remote, data: buffer)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var envelope = unwrapInboundIn(data)
        guard let bytes = envelope.data.readBytes(length: envelope.data.readableBytes),
            let message = try? SIPMessageParser.parse(datagram: bytes),
            let result = SIPOptionsProbe.judge(message, callID: callID, probe: probe)
        else { return }
        completion.finish(result)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        completion.finish(.failed(Probe.describe(error)))
    }
}

final class SIPStreamProbeHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let probe: Check.SIPProbe
    private let transport: SIPSettings.Transport
    private let target: Endpoint
    private let completion: ProbeCompletion
    private var callID = ""
    private var received: [UInt8] = []
    private var sent = false

    init(probe: Check.SIPProbe, transport: SIPSettings.Transport, target: Endpoint, completion: ProbeCompletion) {
        self.probe = probe
        self.transport = transport
        self.target = target
        self.completion = completion
    }

    func channelActive(context: ChannelHandlerContext) {
        if transport == .tcp { send(context: context) }
        context.fireChannelActive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event { send(context: context) }
        context.fireUserInboundEventTriggered(event)
    }

    private func send(context: ChannelHandlerContext) {
        guard !sent else { return }
        sent = true
        let request = SIPOptionsProbe.request(transport: transport, local: context.channel.localAddress, target: target)
        callID = request.callID
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(bytes: request.bytes)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        received += buffer.readBytes(length: buffer.readableBytes) ?? []
        while true {
            let frame: Int?
            do {
                frame = try SIPMessageParser.frameLength(received[...])
            } catch {
                completion.finish(.failed("a malformed SIP answer: \(error)"))
                return
            }
            guard let length = frame else { return }
            let message = try? SIPMessageParser.parse(frame: received[..<length])
            received.removeFirst(length)
            if let message, let result = SIPOptionsProbe.judge(message, callID: callID, probe: probe) {
                completion.finish(result)
                return
            }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        completion.finish(.failed(Probe.describe(error)))
    }

    func channelInactive(context: ChannelHandlerContext) {
        completion.finish(.failed("closed before a SIP answer"))
    }
}
