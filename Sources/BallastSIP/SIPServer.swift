public import BallastCore
public import BallastEngine
public import BallastSIPRegistrar
import BallastTLS
public import Logging
public import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The SIP listeners of a node on the engine: UDP, TCP and TLS on each registrar's and the
/// director's addresses, all answering through one `SIPRegistrar`, with the bindings journal
/// written behind them.
public final class SIPServer: Sendable {
    /// Answers every request.
    public let registrar: SIPRegistrar
    /// The registrations file, when the config names one.
    private let journal: RegistrationJournal?
    private let engine: Engine
    private let logger: Logger
    private let time: TimeSource
    private let udpServices = Mutex<[SIPUDPService]>([])
    private let streamListeners = Mutex<[SIPStreamListener]>([])

    /// A server for the published `state`'s SIP settings, not yet listening; reads back saved bindings.
    /// Every listener runs on `engine`'s loops. `throttle` limits password guessing, shared
    /// with the node's other listeners. `time` is the clock requests are answered at.
    public init(
        state: PublishedState, engine: Engine, logger: Logger, throttle: SharedLoginThrottle = SharedLoginThrottle(),
        time: TimeSource = .system
    ) throws(SIPEdgeError) {
        var restored: [String: Registrations] = [:]
        if let path = state.current.topology.sip?.registrationsFile {
            let now = time.wallSeconds
            (journal, restored) = try RegistrationJournal.open(path: path, now: now, lanes: engine.loopCount + 1)
            logger.info(
                "sip registrations restored",
                metadata: ["file": "\(path)", "bindings": "\(restored.values.reduce(0) { $0 + $1.count(at: now) })"])
        } else {
            journal = nil
        }
        self.registrar = SIPRegistrar(state: state, logger: logger, restored: restored, throttle: throttle)
        self.engine = engine
        self.logger = logger
        self.time = time
    }

    /// Binds every listener of `settings` and starts the failover clock.
    public func start(_ settings: SIPSettings) async throws(SIPEdgeError) {
        var tls: TLSServerContext?
        if settings.listeners.contains(where: { $0.listen.transport == .tls }) {
            do {
                // Chosen by SNI, the first by default, as HTTPS listeners do.
                tls = try TLSServerContext(certificates: settings.certificates, alpn: [])
            } catch {
                throw SIPEdgeError(
                    description: "the SIP certificates cannot be used: \(error.description); check sip.certificates")
            }
        }
        var services: [SIPUDPService] = []
        var listeners: [SIPStreamListener] = []
        for (listen, pool) in settings.listeners {
            do {
                switch listen.transport {
                case .udp:
                    // One socket, read by every engine loop.
                    services.append(
                        try SIPUDPService(
                            registrar: registrar, journal: journal, endpoint: listen.endpoint, pool: pool,
                            engine: engine, time: time, logger: logger))
                case .tcp, .tls:
                    listeners.append(
                        try SIPStreamListener(
                            endpoint: listen.endpoint, pool: pool, tls: listen.transport == .tls ? tls : nil,
                            registrar: registrar, journal: journal, handshakeTimeout: settings.handshakeTimeout,
                            messageTimeout: settings.messageTimeout, maxConnections: settings.maxConnections,
                            time: time, logger: logger))
                }
                logger.info(
                    "sip listening", metadata: ["listen": "\(listen)", "registrar-of": "\(pool ?? "director")"])
            } catch {
                for service in services { service.stop() }
                for listener in listeners { Glibc.close(listener.fd) }
                throw SIPEdgeError(
                    description:
                        "SIP cannot listen on \(listen): \(error); free the port, or change sip listen addresses")
            }
        }
        let reading = services
        let accepting = listeners
        udpServices.withLock { $0 = reading }
        streamListeners.withLock { $0 = accepting }
        await engine.open(services: reading, listeners: accepting)
    }

    /// The registrar's clock: every 100 ms it lets lapsed bindings go and moves users whose
    /// registrar was lost (the resiliency mode's failover and failback), writing the lapses to
    /// the registrations file. The node runs it as one of its services while the edge listens.
    public struct FailoverClock: Service {
        let registrar: SIPRegistrar
        let journal: RegistrationJournal?
        let time: TimeSource

        /// Ticks until cancelled.
        public func run() async {
            while !Task.isCancelled {
                let lapsed = registrar.tick(now: .now(from: time))
                if let journal, !lapsed.isEmpty { journal.submit(lapsed, lane: journal.otherLane) }
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    /// The edge's failover clock.
    public var failoverClock: FailoverClock { FailoverClock(registrar: registrar, journal: journal, time: time) }

    /// Applies a reloaded `sip.max-connections` to the TCP and TLS listeners, which keep their
    /// sockets and connections; loops paused at the old limit accept again if the new one leaves room.
    public func changeMaxConnections(to limit: Int) {
        for listener in streamListeners.withLock({ $0 }) { listener.changeMaxConnections(to: limit) }
    }

    /// Stops listening, writes the bindings still queued and closes the registrations file.
    /// Its failover clock must have stopped first: a tick after would write to a closed file.
    public func stop() async {
        let services = udpServices.withLock { services in
            defer { services = [] }
            return services
        }
        let listeners = streamListeners.withLock { listeners in
            defer { listeners = [] }
            return listeners
        }
        await engine.withdraw(services: services, listeners: listeners)
        for service in services { service.stop() }
        for listener in listeners { Glibc.close(listener.fd) }
        journal?.close()
    }
}
