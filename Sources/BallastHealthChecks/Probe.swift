public import BallastCore
import BallastNIO
public import NIOCore
import NIOHTTP1
import NIOPosix
public import NIOSSL
import NIOTLS

/// The outcome of one probe, in words for the operator.
public enum ProbeResult: Hashable, Sendable {
    /// The server answered as expected.
    case passed(String)
    /// It did not; the reason says how.
    case failed(String)
}

/// What one probe needs: where, how, and its TLS context built once.
public struct ProbeTarget: Sendable {
    /// Where to connect.
    public var endpoint: Endpoint
    /// The check to run.
    public var check: Check
    /// TLS client context for tls and https checks.
    public var tlsContext: NIOSSLContext?

    /// A target; builds the TLS context the check needs.
    public init(endpoint: Endpoint, check: Check) throws {
        self.endpoint = endpoint
        self.check = check
        guard let tls = check.kind.tlsProbe else {
            tlsContext = nil
            return
        }
        var configuration = TLSConfiguration.makeClientConfiguration()
        if tls.verify {
            configuration.certificateVerification = tls.serverName == nil ? .noHostnameVerification : .fullVerification
            if let caFile = tls.caFile { configuration.trustRoots = .file(caFile) }
        } else {
            configuration.certificateVerification = .none
        }
        tlsContext = try NIOSSLContext(configuration: configuration)
    }

    /// Runs one probe; the future always succeeds, with the result.
    public func run(on eventLoop: any EventLoop) -> EventLoopFuture<ProbeResult> {
        Probe.run(self, on: eventLoop)
    }

    var serverName: String? { check.kind.tlsProbe?.serverName }
}

/// Runs one probe on an event loop; the future never fails, it carries a `ProbeResult`.
enum Probe {
    static func run(_ target: ProbeTarget, on eventLoop: any EventLoop) -> EventLoopFuture<ProbeResult> {
        guard eventLoop.inEventLoop else {
            return eventLoop.flatSubmit { run(target, on: eventLoop) }
        }
        if case .sipOptions(let sip) = target.check.kind {
            return SIPOptionsProbe.run(target, probe: sip, on: eventLoop)
        }
        let promise = eventLoop.makePromise(of: ProbeResult.self)
        let timeout = TimeAmount(target.check.timeout)
        let started = NIODeadline.now()
        let completion = NIOLoopBound(ProbeCompletion(promise: promise), eventLoop: eventLoop)

        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(timeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if let context = target.tlsContext {
                        let handler = try NIOSSLClientHandler(context: context, serverHostname: target.serverName)
                        try sync.addHandler(handler)
                    }
                    switch target.check.kind {
                    case .tcp, .sipOptions:
                        break
                    case .tls:
                        try sync.addHandler(TLSHandshakeProbeHandler(completion: completion.value))
                    case .http(let http, _):
                        try sync.addHTTPClientHandlers()
                        try sync.addHandler(
                            HTTPProbeHandler(
                                probe: http,
                                host: http.host ?? target.serverName ?? target.endpoint.address.description,
                                completion: completion.value))
                    }
                }
            }

        let deadline = eventLoop.assumeIsolated().scheduleTask(in: timeout) {
            completion.value.finish(.failed("timed out after \(target.check.timeout)"))
        }
        bootstrap.connect(to: SocketAddress(target.endpoint)).assumeIsolated().whenComplete { result in
            switch result {
            case .success(let channel):
                completion.value.channel = channel
                if case .tcp = target.check.kind {
                    let elapsed = NIODeadline.now() - started
                    completion.value.finish(.passed("tcp connect in \(elapsed.nanoseconds / 1_000_000) ms"))
                }
            case .failure(let error):
                completion.value.finish(.failed(describe(error)))
            }
        }
        return promise.futureResult.always { _ in deadline.cancel() }
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? NIOSSLError { return "TLS: \(error)" }
        if let error = error as? BoringSSLError { return "TLS: \(error)" }
        return describeNetworkError(error)
    }
}

/// Completes a probe once, then closes its channel.
final class ProbeCompletion {
    private let promise: EventLoopPromise<ProbeResult>
    private var done = false
    var channel: (any Channel)?

    init(promise: EventLoopPromise<ProbeResult>) {
        self.promise = promise
    }

    func finish(_ result: ProbeResult) {
        guard !done else { return }
        done = true
        channel?.close(promise: nil)
        promise.succeed(result)
    }
}

/// Passes when the TLS handshake completes.
final class TLSHandshakeProbeHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private let completion: ProbeCompletion

    init(completion: ProbeCompletion) {
        self.completion = completion
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted(let protocolName) = event {
            completion.finish(.passed("TLS handshake completed\(protocolName.map { " (ALPN \($0))" } ?? "")"))
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        completion.finish(.failed(Probe.describe(error)))
    }

    func channelInactive(context: ChannelHandlerContext) {
        completion.finish(.failed("closed during the TLS handshake"))
    }
}

/// Sends `GET path` and judges the status (and body, when the check asks).
final class HTTPProbeHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    /// Most body bytes searched for `expect-body`.
    static let bodyLimit = 64 * 1024

    private let probe: Check.HTTPProbe
    private let host: String
    private let completion: ProbeCompletion
    private var status: Int?
    private var body: [UInt8] = []

    init(probe: Check.HTTPProbe, host: String, completion: ProbeCompletion) {
        self.probe = probe
        self.host = host
        self.completion = completion
    }

    func channelActive(context: ChannelHandlerContext) {
        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: probe.path)
        head.headers.add(name: "Host", value: host)
        head.headers.add(name: "User-Agent", value: "ballast-check")
        head.headers.add(name: "Connection", value: "close")
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = Int(head.status.code)
            if probe.expectBody == nil { judge() }
        case .body(var buffer):
            let room = Self.bodyLimit - body.count
            if room > 0, let bytes = buffer.readBytes(length: min(room, buffer.readableBytes)) {
                body += bytes
            }
        case .end:
            judge()
        }
    }

    private func judge() {
        guard let status else {
            completion.finish(.failed("no HTTP response"))
            return
        }
        guard probe.expectStatus.contains(status) else {
            completion.finish(.failed("HTTP status \(status), expected \(Self.describe(probe.expectStatus))"))
            return
        }
        if let expected = probe.expectBody {
            guard String(decoding: body, as: UTF8.self).contains(expected) else {
                completion.finish(.failed("HTTP status \(status) but the body lacks \"\(expected)\""))
                return
            }
        }
        completion.finish(.passed("HTTP status \(status)"))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        completion.finish(.failed(Probe.describe(error)))
    }

    func channelInactive(context: ChannelHandlerContext) {
        if status != nil { judge() } else { completion.finish(.failed("closed before an HTTP response")) }
    }

    static func describe(_ range: ClosedRange<Int>) -> String {
        range.lowerBound == range.upperBound ? "\(range.lowerBound)" : "\(range.lowerBound)-\(range.upperBound)"
    }
}

extension Check.Kind {
    /// The TLS settings of a probe that speaks TLS; nil for one that does not.
    var tlsProbe: Check.TLSProbe? {
        switch self {
        case .tcp, .http(_, tls: nil): return nil
        case .tls(let tls), .http(_, tls: .some(let tls)): return tls
        case .sipOptions(let sip): return sip.transport == .tls ? sip.tls : nil
        }
    }
}
