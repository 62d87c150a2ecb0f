import BallastCodecs
public import BallastCore
import NIOCore
import NIOPosix

/// Asks a DNS listener one question over UDP, as a client would: for a plan's "check DNS" step,
/// which must see what the listener serves rather than what the node computed.
public enum DNSProbe {
    /// Why a question got no usable answer.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// The answers to `name` `kind` from `endpoint` (an unspecified address asks loopback), in
    /// text form: addresses, or `PRIORITY WEIGHT PORT TARGET` for SRV.
    public static func ask(
        _ endpoint: Endpoint, name: DomainName, kind: DNSFollowCheck.Kind, timeout: Duration = .seconds(1)
    ) async throws -> [String] {
        let target =
            endpoint.address == IPAddress(v4: 0, 0, 0, 0)
            ? Endpoint(address: IPAddress(v4: 127, 0, 0, 1), port: endpoint.port)
            : endpoint.address == IPAddress(v6High: 0, low: 0)
                ? Endpoint(address: IPAddress(v6High: 0, low: 1), port: endpoint.port)
                : endpoint
        let type: UInt16 =
            switch kind {
            case .a: DNSType.a
            case .aaaa: DNSType.aaaa
            case .srv: DNSType.srv
            }
        var query = DNSMessage(id: UInt16.random(in: 0...UInt16.max))
        query.questions = [DNSQuestion(name: name, type: type)]
        query.edns = EDNS(udpPayloadSize: 1232)
        let remote = try SocketAddress(ipAddress: target.address.description, port: target.port)
        let channel = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: target.address.family == .v4 ? "0.0.0.0" : "::", port: 0).get()
        defer { channel.close(promise: nil) }
        let promise = channel.eventLoop.makePromise(of: [UInt8].self)
        // Whatever happens, the promise ends: answered, timed out or closed.
        channel.closeFuture.whenComplete { _ in promise.fail(Failure(description: "the probe's socket closed")) }
        try await channel.pipeline.addHandler(Collector(promise: promise, id: query.id)).get()
        let timer = channel.eventLoop.scheduleTask(
            in: .nanoseconds(
                Int64(timeout.components.seconds) * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000)
        ) {
            promise.fail(Failure(description: "\(target) did not answer \(name) \(kind.rawValue) within \(timeout)"))
        }
        defer { timer.cancel() }
        let bytes = DNSMessageWriter.serialize(query)
        try await channel.writeAndFlush(AddressedEnvelope(remoteAddress: remote, data: ByteBuffer(bytes: bytes))).get()
        let reply: DNSMessage
        do {
            reply = try DNSMessageParser.parse(try await promise.futureResult.get())
        } catch let error as DNSParseError {
            throw Failure(
                description: "\(target) answered \(name) \(kind.rawValue) with a message that does not parse: \(error)")
        }
        guard reply.rcode == DNSRCode.noError || reply.rcode == DNSRCode.nxDomain else {
            throw Failure(description: "\(target) answered \(name) \(kind.rawValue) with rcode \(reply.rcode)")
        }
        return reply.answers.compactMap { record in
            switch record.data {
            case .a(let address), .aaaa(let address): address.description
            case .srv(let priority, let weight, let port, let target): "\(priority) \(weight) \(port) \(target)"
            default: nil
            }
        }
    }

    /// Takes the first datagram that answers the query.
    private final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = AddressedEnvelope<ByteBuffer>
        let promise: EventLoopPromise<[UInt8]>
        let id: UInt16

        init(promise: EventLoopPromise<[UInt8]>, id: UInt16) {
            self.promise = promise
            self.id = id
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let bytes = Array(buffer: unwrapInboundIn(data).data)
            guard bytes.count >= 12, UInt16(bytes[0]) << 8 | UInt16(bytes[1]) == id else { return }
            promise.succeed(bytes)
        }
    }
}

extension DNSProbe {
    /// A lookup against the first DNS listener of `topology`, for a plan's "check DNS" step; nil
    /// when the topology has no DNS listener.
    public static func lookup(
        _ topology: Topology
    ) -> (@Sendable (DomainName, DNSFollowCheck.Kind) async throws -> [String])? {
        guard let listener = topology.dns.listeners.first else { return nil }
        return { name, kind in try await ask(listener, name: name, kind: kind) }
    }
}

extension DNSProbe {
    /// `lookup(topology)` when its listener answers now (a question on the first zone's name);
    /// nil when nothing serves DNS there, as when a plan is applied straight to the store while
    /// the node is stopped: the node serves the change when it starts.
    public static func reachableLookup(
        _ topology: Topology
    ) async -> (@Sendable (DomainName, DNSFollowCheck.Kind) async throws -> [String])? {
        guard let lookup = lookup(topology), let zone = topology.zones.first else { return nil }
        return (try? await lookup(zone.name, .a)) != nil ? lookup : nil
    }
}
