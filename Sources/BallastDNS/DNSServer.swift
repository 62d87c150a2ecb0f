import Atomics
import BallastCodecs
public import BallastCore
public import BallastEngine
import BallastReporting
import CoreMetrics
import Dispatch
public import Logging
import Metrics
public import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The authoritative DNS server: UDP and TCP on every listen address, on the engine's loops,
/// answering from the view of the published state, and telling secondaries of every change by
/// NOTIFY.
public final class DNSServer: Sendable {
    private final class ViewBox: AtomicReference, Sendable {
        let view: DNSView
        init(_ view: DNSView) { self.view = view }
    }

    private let state: PublishedState
    private let engine: Engine
    let logger: Logger
    private let published: ManagedAtomic<ViewBox>
    /// The next turn of each question (by a hash of it), so that every name cycles through its
    /// orders however other names are asked in between.
    private let turns = QuestionTurns()
    private let udpServices = Mutex<[DNSUDPService]>([])
    private let tcpListeners = Mutex<[DNSTCPListener]>([])
    let metrics = DNSMetrics()

    /// A server for the zones of the published `state`, not yet listening; its sockets go on
    /// `engine`'s loops.
    public init(state: PublishedState, engine: Engine, logger: Logger) {
        self.state = state
        self.engine = engine
        self.logger = logger
        self.published = ManagedAtomic(ViewBox(DNSView(state: state.current, previous: nil, now: Self.unixNow())))
    }

    /// The view queries are answered from now.
    public var view: DNSView { published.load(ordering: .acquiring).view }

    /// UDP sockets per listen address when the config names none. Every engine loop reads each
    /// socket, the kernel waking one loop per burst and another when that one is busy, so one
    /// socket already spreads one busy client over every core.
    public static let defaultUDPSockets = 1

    /// Binds `udpSockets` UDP sockets and one TCP socket on each endpoint and starts following the
    /// state. Several UDP sockets share the address (SO_REUSEPORT); the kernel spreads clients
    /// over them by their address and port.
    public func start(_ settings: DNSSettings) async throws {
        var listeners: [DNSTCPListener] = []
        var services: [DNSUDPService] = []
        let udpSockets = max(1, settings.udpSockets ?? Self.defaultUDPSockets)
        do {
            for endpoint in settings.listeners {
                for _ in 0..<udpSockets {
                    services.append(
                        try DNSUDPService(
                            server: self, endpoint: endpoint, sharingPort: udpSockets > 1,
                            rateLimit: settings.rateLimit,
                            loopCount: engine.loopCount))
                }
                listeners.append(
                    try DNSTCPListener(
                        server: self, endpoint: endpoint, timeout: settings.tcpTimeout,
                        maxConnections: settings.maxTCPConnections))
                logger.info(
                    "dns listening",
                    metadata: ["listen": "\(endpoint)", "zones": "\(view.zones.count)", "udp-sockets": "\(udpSockets)"])
            }
        } catch {
            for listener in listeners { Glibc.close(listener.fd) }
            for service in services { Glibc.close(service.fd) }
            throw error
        }
        let reading = services
        let accepting = listeners
        udpServices.withLock { $0 = reading }
        tcpListeners.withLock { $0 = accepting }
        await engine.open(services: reading, listeners: accepting)
        notifySecondaries(of: view.zones)
    }

    /// Keeps the server's view equal to the published state; the node runs it as one of its
    /// services for as long as the server listens.
    public struct Follower: Service {
        let server: DNSServer

        /// Follows until cancelled.
        public func run() async {
            let updates = server.state.updates()
            // A state published before the follower began is taken now.
            server.refresh(server.state.current)
            for await state in updates { server.refresh(state) }
        }
    }

    /// The server's follower of the published state.
    public var follower: Follower { Follower(server: self) }

    /// Stops listening (its follower stopped first).
    public func stop() async {
        let services = udpServices.withLock { services in
            defer { services = [] }
            return services
        }
        let listeners = tcpListeners.withLock { listeners in
            defer { listeners = [] }
            return listeners
        }
        await engine.withdraw(services: services, listeners: listeners)
        for service in services { Glibc.close(service.fd) }
        for listener in listeners { Glibc.close(listener.fd) }
    }

    /// Builds the view of `state`; zones whose serial moved are announced to their secondaries.
    func refresh(_ state: State) {
        let previous = view
        guard state.version != previous.version else { return }
        let next = DNSView(state: state, previous: previous, now: Self.unixNow())
        published.store(ViewBox(next), ordering: .releasing)
        let changed = next.zones.filter { zone in
            previous.zones.first { $0.zone.name == zone.zone.name }?.serial != zone.serial
        }
        for zone in changed {
            logger.info("zone changed", metadata: ["zone": "\(zone.zone.name)", "serial": "\(zone.serial)"])
        }
        notifySecondaries(of: changed)
    }

    /// Answers one query message; nil when nothing should be sent back.
    func respond(
        to bytes: [UInt8], transport: ZoneAuthority.Transport, client: @autoclosure () -> String, rotation: Int? = nil
    ) -> [UInt8]? {
        let query: DNSMessage
        do {
            query = try DNSMessageParser.parse(bytes)
        } catch {
            metrics.malformed.increment()
            guard let header = DNSMessageParser.header(of: bytes) else {
                BadInputLog.shared.report(
                    listener: "dns-\(transport)", reason: "packet dropped: no DNS header", client: client(),
                    logger: logger,
                    detail: error.description)
                return nil
            }
            BadInputLog.shared.report(
                listener: "dns-\(transport)", reason: "malformed query, answered FORMERR", client: client(),
                logger: logger,
                detail: error.description)
            var response = DNSMessage(id: header.id)
            response.isResponse = true
            response.opcode = header.opcode
            response.recursionDesired = header.recursionDesired
            response.rcode = DNSRCode.formErr
            return DNSMessageWriter.serialize(response)
        }
        let turn = rotation ?? turns.next(for: bytes)
        guard let response = ZoneAuthority.answer(query, view: view, transport: transport, rotation: turn & Int.max)
        else { return nil }
        return DNSMessageWriter.serialize(response, limit: ZoneAuthority.sizeLimit(for: query, transport: transport))
    }

    /// The turn the next answer to the question in `query` takes.
    func nextTurn(for query: [UInt8]) -> Int { turns.next(for: query) }

    /// The messages of a zone transfer (AXFR, and IXFR answered as AXFR) when `client` may have it.
    func transfer(_ bytes: [UInt8], client: IPAddress?) -> [[UInt8]]? {
        guard let query = try? DNSMessageParser.parse(bytes), query.questions.count == 1,
            let question = query.questions.first,
            question.type == DNSType.axfr || question.type == DNSType.ixfr
        else { return nil }
        var response = DNSMessage(id: query.id)
        response.isResponse = true
        response.questions = query.questions
        guard let zone = view.zones.first(where: { $0.zone.name == question.name }) else {
            response.rcode = DNSRCode.notAuth
            return [DNSMessageWriter.serialize(response)]
        }
        guard let client, zone.zone.secondaries.contains(where: { $0.address == client }) else {
            BadInputLog.shared.report(
                listener: "dns-tcp", reason: "zone transfer refused: not a secondary",
                client: client.map { "\($0)" } ?? "-",
                logger: logger, detail: "zone \(zone.zone.name)")
            response.rcode = DNSRCode.refused
            return [DNSMessageWriter.serialize(response)]
        }
        response.authoritative = true
        var messages: [[UInt8]] = []
        var records = zone.allRecords + [zone.soaRecord]
        // Several messages of about 16 KiB each, as BIND and NSD send them.
        while !records.isEmpty {
            var part = response
            var size = 0
            while let record = records.first, part.answers.isEmpty || size < 16_000 {
                part.answers.append(record)
                size += record.name.wireLength + 10 + 64
                records.removeFirst()
            }
            messages.append(DNSMessageWriter.serialize(part))
            response.questions = []
        }
        metrics.transfers.increment()
        logger.info(
            "zone transferred",
            metadata: ["zone": "\(zone.zone.name)", "client": "\(client)", "serial": "\(zone.serial)"])
        return messages
    }

    private func notifySecondaries(of zones: [ZoneView]) {
        guard let socket = udpServices.withLock({ $0.first }) else { return }
        for zone in zones {
            for secondary in zone.zone.secondaries {
                var notify = DNSMessage(id: UInt16.random(in: 0...UInt16.max))
                notify.opcode = DNSOpcode.notify
                notify.authoritative = true
                notify.questions = [DNSQuestion(name: zone.zone.name, type: DNSType.soa)]
                notify.answers = [zone.soaRecord]
                metrics.notifies.increment()
                do {
                    try socket.send(DNSMessageWriter.serialize(notify), to: secondary)
                } catch {
                    logger.warning("NOTIFY not sent", metadata: ["secondary": "\(secondary)", "error": "\(error)"])
                }
            }
        }
    }

    static func unixNow() -> UInt32 { UInt32(truncatingIfNeeded: time(nil)) }
}

/// A turn counter per question, kept in a fixed table of atomic counters picked by a hash of the
/// question (two questions meeting in one slot share a counter, which only makes their orders
/// advance faster). No lock: UDP sockets on every loop and TCP connections share it.
final class QuestionTurns: Sendable {
    private static let slots = 1024
    private let counters = (0..<QuestionTurns.slots).map { _ in ManagedAtomic<Int>(0) }

    /// The next turn for the question in `query` (the bytes after the ID: flags, question, OPT).
    func next(for query: [UInt8]) -> Int {
        guard query.count > 2 else { return 0 }
        let hash = query.withUnsafeBytes { DNSAnswerCache.hash(UnsafeRawBufferPointer(rebasing: $0[2...])) }
        return counters[Int(truncatingIfNeeded: hash) & (Self.slots - 1)].loadThenWrappingIncrement(ordering: .relaxed)
    }
}

/// The DNS server's metrics, created once so that queries only count.
struct DNSMetrics: Sendable {
    let udpQueries = Counter(label: "ballast_dns_queries_total", dimensions: [("transport", "udp")])
    let tcpQueries = Counter(label: "ballast_dns_queries_total", dimensions: [("transport", "tcp")])
    let malformed = Counter(label: "ballast_dns_malformed_total")
    let transfers = Counter(label: "ballast_dns_zone_transfers_total")
    let notifies = Counter(label: "ballast_dns_notifies_total")
    let rateLimitedDropped = Counter(label: "ballast_dns_rate_limited_total", dimensions: [("action", "dropped")])
    let rateLimitedSlipped = Counter(label: "ballast_dns_rate_limited_total", dimensions: [("action", "truncated")])
}
