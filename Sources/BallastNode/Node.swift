import BallastConfig
public import BallastCore
import BallastDNS
import BallastEngine
import BallastHTTPEngine
public import BallastHealthChecks
public import BallastMail
public import BallastRelay
import BallastReporting
public import BallastSIP
public import BallastSIPRegistrar
public import BallastStore
import CBallastLinux
public import Logging
public import NIOCore
import NIOPosix

/// One running Ballast node: the published state, the relays' listeners and the health
/// checkers. An actor, so that reloads, drains and shutdown never overlap; the data path
/// never touches it.
public actor Node {
    /// The published state: where every edge takes its snapshots.
    public nonisolated let state: PublishedState
    /// The health checkers.
    public nonisolated let monitor: HealthMonitor
    private let engine: Engine
    private let group: any EventLoopGroup
    private let logger: Logger
    private let tuning: RelayTuning
    /// The clock the edges decide expiries by (affinity, nonces, bindings).
    private let time: TimeSource
    private var listeners: [Endpoint: Listener] = [:]
    private var retiring: [Listener] = []
    private var stickTables: [String: (persistence: Persistence, table: SharedStickTable)] = [:]
    private var started = false
    private var dns: DNSServer?
    private var sip: SIPServer?
    /// The store's follower, running in `services.store` while the config has a store.
    private var directorySync: DirectorySync?
    /// What the node runs besides its listeners, from `start` until its teardown.
    private var services: NodeServices?
    /// Logged-in mail sessions, closed when their database's active copy moves.
    public nonisolated let mailSessions = MailSessions()
    /// Limits password guessing across SIP, IMAP, POP3 and HTTP Basic together.
    /// Public so that what it refuses can be asked (status, tests).
    public nonisolated let loginThrottle = SharedLoginThrottle()

    /// The SIP registrar, when the config has a `sip` section.
    public var sipRegistrar: SIPRegistrar? { sip?.registrar }

    /// A node for `topology`, not yet listening: health checks and HTTP relays run on
    /// `group`, TCP relays' bytes on `relayThreads` threads of their own (one per core by default).
    /// `time` is the system's clocks but in tests that move time forward to reach an expiry.
    public init(
        topology: Topology, group: any EventLoopGroup, logger: Logger, relayThreads: Int? = nil,
        tuning: RelayTuning = .standard, time: TimeSource = .system
    ) throws {
        self.time = time
        self.state = PublishedState(topology: topology)
        self.monitor = HealthMonitor(state: state, group: group, logger: logger)
        self.engine = try Engine(
            threads: relayThreads ?? System.coreCount, bufferSize: tuning.bufferSize, logger: logger)
        self.group = group
        self.logger = logger
        self.tuning = tuning
    }

    /// Binds every relay and starts the health checks. On failure nothing stays bound.
    public func start() async throws(NodeError) {
        precondition(!started, "a node starts once")
        started = true
        let topology = state.current.topology
        services = NodeServices(
            engine: engine, monitor: monitor, sessions: mailSessions, state: state, logger: logger)
        // The directory first (the users file, the store, or the store's last state kept on disk),
        // so that no listener serves from an empty one.
        do {
            try loadDirectory(topology)
            try await startDirectorySync(topology.store, backups: topology.backup)
            monitor.sync(with: topology)
            for relay in topology.relays { listeners[relay.listen] = try await bind(relay) }
            try await startDNS(topology.dns)
            try await startSIP(topology.sip)
        } catch {
            for listener in listeners.values { await listener.stopAccepting() }
            await stopEverything()
            throw error
        }
        logger.info(
            "node started",
            metadata: [
                "relays": "\(topology.relays.count)", "pools": "\(topology.pools.count)",
                "version": "\(state.current.version)",
            ])
    }

    /// Applies a new topology as one transaction. Everything the new topology needs is built
    /// first while the old one stays in force: certificates loaded, new addresses bound, relays
    /// that change between tcp, http and mail rebound, and the DNS listeners, the SIP edge and the
    /// store swapped when their settings changed. Should any step fail, the steps before it are
    /// undone and the reload is refused; only when all succeed is the topology published (with
    /// the users file's directory, in one version). Relays whose address is unchanged keep their
    /// listening socket and their open connections, and new connections follow the new settings;
    /// removed addresses stop accepting and their connections finish.
    @discardableResult
    public func apply(_ topology: Topology) async throws(NodeError) -> ReloadSummary {
        let previous = state.current.topology
        var summary = ReloadSummary()
        let directory = try readDirectory(topology)
        var reload = Reload()
        do {
            try await prepare(topology, previous: previous, into: &reload, summary: &summary)
        } catch {
            for step in reload.undo.reversed() { await step() }
            throw error
        }

        // Everything is in place: publish, then hand the listeners that stay their new runtimes.
        state.replaceTopology(topology, directory: topology.store == nil ? directory : nil)
        for (endpoint, old) in reload.replaced {
            listeners[endpoint] = nil
            retiring.append(old)
        }
        let wanted = Set(topology.relays.map(\.listen))
        for (endpoint, listener) in listeners where !wanted.contains(endpoint) {
            summary.removed.append(listener.relayName)
            await listener.stopAccepting()
            listeners[endpoint] = nil
            retiring.append(listener)
        }
        listeners.merge(reload.added) { old, _ in old }
        // New engine listeners too: they held their first clients in the backlog until their
        // relay was published (its connection limit read as 0); now they read it and accept.
        for relay in topology.relays {
            guard let listener = listeners[relay.listen] else { continue }
            if reload.added[relay.listen] == nil {
                if previous.relay(named: relay.name) == relay {
                    summary.unchanged.append(relay.name)
                } else {
                    summary.changed.append(relay.name)
                }
            }
            await hand(listener, to: relay, reload)
        }
        if let settings = topology.sip, !Self.sipListenersChanged(previous.sip, topology.sip),
            settings.maxConnections != previous.sip?.maxConnections
        {
            sip?.changeMaxConnections(to: settings.maxConnections)
        }
        retiring.removeAll { $0.activeConnections == 0 }
        let names = Set(topology.relays.map(\.name))
        stickTables = stickTables.filter { names.contains($0.key) }
        monitor.sync(with: topology)
        logger.notice(
            "config applied",
            metadata: [
                "version": "\(state.current.version)", "added": "\(summary.added)", "changed": "\(summary.changed)",
                "removed": "\(summary.removed)", "unchanged": "\(summary.unchanged.count)",
            ])
        return summary
    }

    /// What a reload has built so far, and how to take each step back should a later one fail.
    private struct Reload {
        var mailRuntimes: [String: MailRuntime] = [:]
        var engineRuntimes: [String: EngineHTTPRuntime] = [:]
        /// Listeners bound for new addresses, and for relays that changed edge.
        var added: [Endpoint: Listener] = [:]
        /// The listeners those relays had, retired once the reload is published.
        var replaced: [Endpoint: Listener] = [:]
        /// Each step's undoing, in the order the steps were taken.
        var undo: [() async -> Void] = []
    }

    /// The reload's steps that can fail, each recorded with its undoing; nothing is published.
    private func prepare(
        _ topology: Topology, previous: Topology, into reload: inout Reload, summary: inout ReloadSummary
    ) async throws(NodeError) {
        for relay in topology.relays {
            if relay.protocol.isHTTP {
                reload.engineRuntimes[relay.name] = try engineHTTPRuntime(for: relay, in: topology)
            }
            if relay.protocol.isMail { reload.mailRuntimes[relay.name] = try mailRuntime(for: relay) }
        }
        for relay in topology.relays where listeners[relay.listen] == nil {
            let listener = try await bind(
                relay, mailRuntime: reload.mailRuntimes[relay.name], engineRuntime: reload.engineRuntimes[relay.name])
            reload.added[relay.listen] = listener
            reload.undo.append { await listener.stopAccepting() }
            summary.added.append(relay.name)
        }
        // A relay that changed between tcp, http and mail keeps its address but not its socket:
        // the old one must close before the new one binds; undone, the old relay is bound again.
        for relay in topology.relays {
            guard let listener = listeners[relay.listen], listener.kind != Listener.kind(of: relay) else { continue }
            await listener.stopAccepting()
            let endpoint = relay.listen
            let old = previous.relays.first { $0.listen == endpoint }
            reload.undo.append { [self] in await rebind(old, replacing: listener) }
            let fresh = try await bind(
                relay, mailRuntime: reload.mailRuntimes[relay.name], engineRuntime: reload.engineRuntimes[relay.name])
            reload.added[endpoint] = fresh
            reload.replaced[endpoint] = listener
            reload.undo.append { await fresh.stopAccepting() }
            summary.changed.append(relay.name)
        }
        if topology.dns != previous.dns {
            await stopDNS()
            reload.undo.append { [self] in await restoreDNS(previous.dns) }
            try await startDNS(topology.dns)
        }
        if Self.sipListenersChanged(previous.sip, topology.sip) {
            await stopSIP()
            reload.undo.append { [self] in await restoreSIP(previous.sip) }
            try await startSIP(topology.sip)
        }
        if topology.store != previous.store || topology.backup != previous.backup {
            await stopDirectorySync()
            reload.undo.append { [self] in await restoreDirectorySync(previous.store, backups: previous.backup) }
            try await startDirectorySync(topology.store, backups: topology.backup)
        }
    }

    /// Gives a listener that stays the runtime its relay now has.
    private func hand(_ listener: Listener, to relay: Relay, _ reload: Reload) async {
        switch listener {
        case .tcp(let tcp): tcp.replaceRuntime(runtime(for: relay))
        case .mail(let mail): if let runtime = reload.mailRuntimes[relay.name] { mail.replaceRuntime(runtime) }
        case .httpEngine(let http):
            if let runtime = reload.engineRuntimes[relay.name] { await http.replaceRuntime(runtime) }
        }
    }

    /// Undoes a relay's change of edge: `old` (the relay as it was) is bound again in place of
    /// the listener that stopped accepting for the change, which then retires.
    private func rebind(_ old: Relay?, replacing listener: Listener) async {
        guard let old else { return }
        do {
            let again = try await bind(old, mailRuntime: old.protocol.isMail ? try mailRuntime(for: old) : nil)
            retiring.append(listener)
            listeners[old.listen] = again
        } catch {
            logger.error(
                "relay not bound again after a refused reload",
                metadata: ["relay": "\(old.name)", "reason": "\(error)"])
        }
    }

    /// Undoes a swap of the DNS listeners: the new ones stop and the previous settings are bound again.
    private func restoreDNS(_ settings: DNSSettings) async {
        await stopDNS()
        do {
            try await startDNS(settings)
        } catch {
            logger.error("DNS listeners not bound again after a refused reload", metadata: ["reason": "\(error)"])
        }
    }

    /// Undoes a swap of the SIP edge: the new one stops and the previous settings are bound again.
    private func restoreSIP(_ settings: SIPSettings?) async {
        await stopSIP()
        do {
            try await startSIP(settings)
        } catch {
            logger.error("SIP listeners not bound again after a refused reload", metadata: ["reason": "\(error)"])
        }
    }

    /// Undoes a swap of the store: the new follower stops and the previous store is followed again.
    private func restoreDirectorySync(_ settings: StoreSettings?, backups: BackupSettings?) async {
        await stopDirectorySync()
        do {
            try await startDirectorySync(settings, backups: backups)
        } catch {
            logger.error("store not opened again after a refused reload", metadata: ["reason": "\(error)"])
        }
    }

    /// Stops following the store, and the site watch that acts on it.
    private func stopDirectorySync() async {
        // The site watch first (it reads through the follower), then the follower, which closes
        // the store when it returns.
        await services?.siteWatch.replace(with: nil)
        await services?.store.replace(with: nil)
        directorySync = nil
    }

    /// Stops accepting on every relay, lets open connections finish for up to `grace`,
    /// then closes what is left and stops the health checks.
    public func shutdown(grace: Duration) async {
        let all = Array(listeners.values) + retiring
        for listener in all { await listener.stopAccepting() }
        let clock = ContinuousClock()
        let deadline = clock.now + grace
        var open = all.reduce(0) { $0 + $1.activeConnections }
        if open > 0 {
            logger.notice("draining: waiting for open connections", metadata: ["open": "\(open)", "grace": "\(grace)"])
        }
        while open > 0 && clock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
            open = all.reduce(0) { $0 + $1.activeConnections }
        }
        if open > 0 {
            logger.warning("drain deadline reached, closing connections", metadata: ["open": "\(open)"])
            for listener in all { await listener.closeAllConnections() }
        }
        await stopEverything()
        logger.notice("node stopped")
    }

    /// Stops what the node runs besides its relays' listeners, which have stopped accepting:
    /// the SIP edge and DNS, then the node's services (`NodeServices`), the engine last. The one
    /// teardown, for a start that failed midway and for shutdown.
    private func stopEverything() async {
        await stopSIP()
        await stopDNS()
        if let services {
            await services.stop()
        } else {
            await engine.shutdown()  // never started
        }
        services = nil
        directorySync = nil
        BadInputLog.shared.flush()
        listeners = [:]
        retiring = []
    }

    /// Binds the DNS listeners `settings` name and runs the server's follower.
    private func startDNS(_ settings: DNSSettings) async throws(NodeError) {
        dns = try await makeDNS(settings)
        await services?.dns.replace(with: dns?.follower)
    }

    /// Stops the DNS server's follower, then its listeners.
    private func stopDNS() async {
        await services?.dns.replace(with: nil)
        await dns?.stop()
        dns = nil
    }

    /// Binds the SIP edge `settings` describe and runs its failover clock.
    private func startSIP(_ settings: SIPSettings?) async throws(NodeError) {
        sip = try await makeSIP(settings)
        await services?.sip.replace(with: sip?.failoverClock)
    }

    /// Stops the SIP edge's failover clock, then its listeners and registrations file.
    private func stopSIP() async {
        await services?.sip.replace(with: nil)
        await sip?.stop()
        sip = nil
    }

    /// Connections open through every relay, retiring ones included.
    public var activeConnections: Int {
        (Array(listeners.values) + retiring).reduce(0) { $0 + $1.activeConnections }
    }

    /// A DNS server listening as `settings` say; nil when they name no address.
    private func makeDNS(_ settings: DNSSettings) async throws(NodeError) -> DNSServer? {
        guard !settings.listeners.isEmpty else { return nil }
        let server = DNSServer(state: state, engine: engine, logger: logger)
        do {
            try await server.start(settings)
        } catch {
            throw NodeError(
                code: .cannotListen,
                description:
                    "DNS cannot listen on \(settings.listeners.map(\.description).joined(separator: ", ")): \(error); free the port, or change dns.listen"
            )
        }
        return server
    }

    /// Whether the SIP edge must be rebound: listeners, certificates or the registrations file changed.
    private static func sipListenersChanged(_ old: SIPSettings?, _ new: SIPSettings?) -> Bool {
        guard let old, let new else { return (old == nil) != (new == nil) }
        return old.listeners.map(\.listen) != new.listeners.map(\.listen)
            || old.listeners.map(\.pool) != new.listeners.map(\.pool) || old.certificates != new.certificates
            || old.registrationsFile != new.registrationsFile
    }

    /// The SIP edge listening as `settings` say; nil without a `sip` section.
    private func makeSIP(_ settings: SIPSettings?) async throws(NodeError) -> SIPServer? {
        guard let settings else { return nil }
        do {
            let server = try SIPServer(
                state: state, engine: engine, logger: logger, throttle: loginThrottle, time: time)
            try await server.start(settings)
            return server
        } catch {
            throw NodeError(code: .cannotListen, description: error.description)
        }
    }

    /// The users of the SIP users file, checked against `topology`; with a store, the store's.
    private func readDirectory(_ topology: Topology) throws(NodeError) -> Directory {
        guard topology.store == nil else { return state.current.directory }
        guard let settings = topology.sip else { return Directory() }
        do {
            var directory = try UsersFileReader.load(settings: settings, topology: topology)
            directory.revision = state.current.directory.revision + 1
            return directory
        } catch {
            throw NodeError(code: .invalidUsers, description: error.description)
        }
    }

    private func startDirectorySync(_ settings: StoreSettings?, backups: BackupSettings?) async throws(NodeError) {
        guard let settings else { return }
        let sync = DirectorySync(settings: settings, backups: backups, state: state, logger: logger)
        do {
            try await sync.start()
        } catch {
            await sync.close()
            throw NodeError(code: .storeUnavailable, description: error.description)
        }
        directorySync = sync
        await services?.store.replace(with: sync)
        await services?.siteWatch.replace(with: SiteWatch(state: state, sync: sync, logger: logger))
    }

    /// The directory's store, when the config has one and it has been opened.
    public var directoryStore: DirectoryStore? {
        get async { await directorySync?.directoryStore }
    }

    private func loadDirectory(_ topology: Topology) throws(NodeError) {
        guard topology.store == nil else { return }
        let directory = try readDirectory(topology)
        state.replaceDirectory(directory)
        if topology.sip?.usersFile != nil {
            logger.info("users loaded", metadata: ["users": "\(directory.usersByURI.count)"])
        }
    }

    private func bind(
        _ relay: Relay, mailRuntime: MailRuntime? = nil, engineRuntime: EngineHTTPRuntime? = nil
    ) async throws(NodeError) -> Listener {
        do {
            if relay.protocol.isMail {
                let runtime = try mailRuntime ?? self.mailRuntime(for: relay)
                return .mail(
                    try await MailListener.bind(
                        endpoint: relay.listen, runtime: runtime, engine: engine, backlog: tuning.backlog))
            }
            if relay.protocol.isHTTP {
                return .httpEngine(
                    try await EngineHTTPListener.bind(
                        endpoint: relay.listen,
                        runtime: try engineRuntime ?? engineHTTPRuntime(for: relay, in: state.current.topology),
                        engine: engine,
                        backlog: tuning.backlog))
            }
            return .tcp(
                try await RelayListener.bind(endpoint: relay.listen, runtime: runtime(for: relay), engine: engine))
        } catch {
            throw NodeError.cannotListen(relay: relay.name, endpoint: relay.listen, reason: "\(error)")
        }
    }

    /// The source-address table of a relay, kept across reloads while its persistence is unchanged.
    private func stickTable(for relay: Relay) -> SharedStickTable? {
        guard case .sourceAddress(let timeout, let capacity) = relay.persistence else {
            stickTables[relay.name] = nil
            return nil
        }
        if let kept = stickTables[relay.name], kept.persistence == relay.persistence { return kept.table }
        let table = SharedStickTable(capacity: capacity, timeout: timeout)
        stickTables[relay.name] = (relay.persistence, table)
        return table
    }

    private func runtime(for relay: Relay) -> RelayRuntime {
        let monitor = self.monitor
        return RelayRuntime(
            relayName: relay.name, state: state, stickTable: stickTable(for: relay), tuning: tuning, time: time,
            logger: logger,
            reportFailure: { key, reason in monitor.observedFailure(of: key, reason: reason) })
    }

    /// The runtime of an http relay on the engine.
    /// Its certificate files are loaded here, so a reload serves renewed ones.
    private func engineHTTPRuntime(for relay: Relay, in topology: Topology) throws(NodeError) -> EngineHTTPRuntime {
        let monitor = self.monitor
        do {
            return try EngineHTTPRuntime(
                relay: relay, servers: topology.pool(named: relay.pool)?.servers ?? [], state: state,
                stickTable: stickTable(for: relay), engine: engine, logger: logger, throttle: loginThrottle,
                time: time,
                reportFailure: { key, reason in monitor.observedFailure(of: key, reason: reason) })
        } catch {
            throw NodeError(code: .invalidRelay, description: "relay \(relay.name): \(error)")
        }
    }

    /// The runtime of a mail relay, with its certificate files loaded.
    private func mailRuntime(for relay: Relay) throws(NodeError) -> MailRuntime {
        do {
            return try MailRuntime(
                relay: relay, state: state, sessions: mailSessions, logger: logger, throttle: loginThrottle)
        } catch {
            throw NodeError(code: .invalidRelay, description: "relay \(relay.name): certificates do not load: \(error)")
        }
    }
}

/// A relay's listener, whichever edge serves it.
enum Listener: Sendable {
    case tcp(RelayListener)
    case httpEngine(EngineHTTPListener)
    case mail(MailListener)

    /// Which edge serves a listener; a relay that changes edge gets a new socket.
    enum Kind: Hashable {
        case tcp, httpEngine, mail
    }

    static func kind(of relay: Relay) -> Kind {
        if relay.protocol.isMail { return .mail }
        if relay.protocol.isHTTP { return .httpEngine }
        return .tcp
    }

    var kind: Kind {
        switch self {
        case .tcp: return .tcp
        case .httpEngine: return .httpEngine
        case .mail: return .mail
        }
    }

    var relayName: String {
        switch self {
        case .tcp(let listener): return listener.runtime.relayName
        case .httpEngine(let listener): return listener.runtime.relayName
        case .mail(let listener): return listener.runtime.relayName
        }
    }

    var activeConnections: Int {
        switch self {
        case .tcp(let listener): return listener.activeConnections
        case .httpEngine(let listener): return listener.activeConnections
        case .mail(let listener): return listener.activeConnections
        }
    }

    func stopAccepting() async {
        switch self {
        case .tcp(let listener): await listener.stopAccepting()
        case .httpEngine(let listener): await listener.stopAccepting()
        case .mail(let listener): await listener.stopAccepting()
        }
    }

    func closeAllConnections() async {
        switch self {
        case .tcp(let listener): await listener.closeAllConnections()
        case .httpEngine(let listener): await listener.closeAllConnections()
        case .mail(let listener): await listener.closeAllConnections()
        }
    }
}

/// What a reload changed, by relay name.
public struct ReloadSummary: Hashable, Sendable {
    public var added: [String] = []
    public var changed: [String] = []
    public var removed: [String] = []
    public var unchanged: [String] = []
}

/// Why a node could not start or apply a config.
public struct NodeError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of failure.
    public enum Code: Hashable, Sendable {
        case cannotListen
        /// A relay's settings cannot be put to work, such as certificate files that do not load.
        case invalidRelay
        /// The users file cannot be read or has errors.
        case invalidUsers
        /// The store cannot be opened and there is no last state to start from.
        case storeUnavailable
    }

    public var code: Code
    public var description: String

    static func cannotListen(relay: String, endpoint: Endpoint, reason: String) -> NodeError {
        NodeError(
            code: .cannotListen,
            description:
                "relay \(relay) cannot listen on \(endpoint): \(reason); free the port, or change relays.\(relay).listen"
        )
    }
}
