import BallastCore
import BallastEngine
import BallastHealthChecks
import BallastMail
import Logging
import ServiceLifecycle

/// What a node runs besides its listeners, as one `ServiceGroup`: the engine, housekeeping,
/// the health checks, the store's follower and the site watch, the mail-session follower, the
/// DNS server's follower and the SIP edge's failover clock. Each is a `ServiceSlot`, so that a
/// reload can replace what runs in it while the group stays. The group starts them in that
/// order and stops them in the reverse one on graceful shutdown: the engine last.
final class NodeServices: Sendable {
    let store: ServiceSlot
    let siteWatch: ServiceSlot
    let dns: ServiceSlot
    let sip: ServiceSlot
    private let group: ServiceGroup
    /// The group's run. Detached, so that it does not inherit a graceful shutdown from the
    /// service that started the node (`ballast run`'s group): the node drains its listeners
    /// first, then stops these (`stop()`); started here and awaited there.
    private let running: Task<Void, Never>

    /// Starts the group.
    init(engine: Engine, monitor: HealthMonitor, sessions: MailSessions, state: PublishedState, logger: Logger) {
        store = ServiceSlot("store follower", logger: logger)
        siteWatch = ServiceSlot("site watch", logger: logger)
        dns = ServiceSlot("dns follower", logger: logger)
        sip = ServiceSlot("sip failover clock", logger: logger)
        let slots = [
            ServiceSlot("engine", running: EngineService(engine: engine), logger: logger),
            ServiceSlot("housekeeping", running: Housekeeping(), logger: logger),
            ServiceSlot("health checks", running: HealthChecks(monitor: monitor), logger: logger),
            store, siteWatch,
            ServiceSlot(
                "mail session follower", running: MailSessionFollower(sessions: sessions, state: state, logger: logger),
                logger: logger),
            dns, sip,
        ]
        let group = ServiceGroup(slots: slots, logger: logger)
        self.group = group
        running = Task.detached {
            do {
                try await group.run()
            } catch {
                logger.error("node services stopped", metadata: ["reason": "\(error)"])
            }
        }
    }

    /// Stops every service, the last started first, and waits until all have returned.
    func stop() async {
        await group.triggerGracefulShutdown()
        await running.value
    }
}

/// Waits until its task is cancelled.
private func untilCancelled() async {
    while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
}

/// The engine's threads, shut down when the service stops (after every service that used them).
struct EngineService: Service {
    let engine: Engine

    func run() async {
        await untilCancelled()
        await engine.shutdown()
    }
}

/// The health checks, which run on the monitor's event loops as the topology says; stopping the
/// service stops them all.
struct HealthChecks: Service {
    let monitor: HealthMonitor

    func run() async {
        await untilCancelled()
        monitor.stopAll()
    }
}
