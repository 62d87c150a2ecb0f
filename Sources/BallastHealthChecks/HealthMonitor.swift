public import BallastCore
import CoreMetrics
public import Logging
import Metrics
public import NIOCore
import Synchronization

/// Runs the health checks of every checked server and publishes each change of status.
///
/// One checker per server, each confined to an event loop. Checkers whose server and check
/// are unchanged survive a reload with their state; the others are replaced.
public final class HealthMonitor: Sendable {
    private struct Spec: Hashable {
        var endpoint: Endpoint
        var check: Check
    }

    private struct Entry {
        var spec: Spec
        var checker: NIOLoopBoundBox<ServerChecker>
    }

    private let state: PublishedState
    private let group: any EventLoopGroup
    private let logger: Logger
    private let entries = Mutex<[ProbeKey: Entry]>([:])

    /// A monitor publishing to `state`, probing from `group`.
    public init(state: PublishedState, group: any EventLoopGroup, logger: Logger) {
        self.state = state
        self.group = group
        self.logger = logger
    }

    /// Starts, keeps or stops checkers so that they match `topology`.
    public func sync(with topology: Topology) {
        var wanted: [ProbeKey: Spec] = [:]
        for probe in topology.probes {
            wanted[probe.key] = Spec(
                endpoint: Endpoint(address: probe.server.address, port: probe.key.port), check: probe.check)
        }
        let (stopped, started) = entries.withLock {
            entries -> ([NIOLoopBoundBox<ServerChecker>], [NIOLoopBoundBox<ServerChecker>]) in
            var stopped: [NIOLoopBoundBox<ServerChecker>] = []
            var started: [NIOLoopBoundBox<ServerChecker>] = []
            for (key, entry) in entries where wanted[key] != entry.spec {
                stopped.append(entry.checker)
                entries[key] = nil
            }
            for (key, spec) in wanted where entries[key] == nil {
                let loop = group.next()
                let target: ProbeTarget
                do {
                    target = try ProbeTarget(endpoint: spec.endpoint, check: spec.check)
                } catch {
                    logger.error(
                        "cannot set up the health check; the server stays unchecked",
                        metadata: ["server": "\(key)", "error": "\(error)"])
                    continue
                }
                let bound = NIOLoopBoundBox.makeBoxSendingValue(
                    ServerChecker(key: key, target: target, eventLoop: loop, state: state, logger: logger),
                    eventLoop: loop)
                entries[key] = Entry(spec: spec, checker: bound)
                started.append(bound)
            }
            return (stopped, started)
        }
        for checker in stopped { checker.eventLoop.execute { checker.value.stop() } }
        for checker in started { checker.eventLoop.execute { checker.value.start() } }
    }

    /// Live traffic could not reach `key`: mark it suspect now and probe it at once.
    public func observedFailure(of key: ProbeKey, reason: String) {
        guard let checker = entries.withLock({ $0[key]?.checker }) else { return }
        checker.eventLoop.execute { checker.value.observedFailure(reason: reason) }
    }

    /// Stops every checker.
    public func stopAll() {
        let all = entries.withLock { entries in
            defer { entries.removeAll() }
            return entries.values.map(\.checker)
        }
        for checker in all { checker.eventLoop.execute { checker.value.stop() } }
    }
}

/// Probes one server on a fixed cadence and feeds its state machine.
final class ServerChecker {
    private let key: ProbeKey
    private let target: ProbeTarget
    private let eventLoop: any EventLoop
    private let state: PublishedState
    private let logger: Logger
    private var machine: HealthStateMachine
    private var next: Scheduled<Void>?
    private var probing = false
    private var probeAgain = false
    private var stopped = false
    private let changes: Counter
    private let upGauge: Gauge

    init(key: ProbeKey, target: ProbeTarget, eventLoop: any EventLoop, state: PublishedState, logger: Logger) {
        self.key = key
        self.target = target
        self.eventLoop = eventLoop
        self.state = state
        self.logger = logger
        self.machine = HealthStateMachine(rise: target.check.rise, fall: target.check.fall, now: .now)
        let dimensions = [("pool", key.server.pool), ("server", key.server.server), ("port", "\(key.port)")]
        self.changes = Counter(label: "ballast_health_changes_total", dimensions: dimensions)
        self.upGauge = Gauge(label: "ballast_server_up", dimensions: dimensions)
    }

    /// Probes at once, so that a starting node knows its servers within one timeout.
    func start() {
        probe()
    }

    func stop() {
        stopped = true
        next?.cancel()
        next = nil
    }

    func observedFailure(reason: String) {
        guard !stopped else { return }
        if let transition = machine.observedFailure(at: .now, reason: reason) {
            publish(transition)
        }
        // Settle the question now rather than at the next interval.
        if probing {
            probeAgain = true
        } else {
            next?.cancel()
            probe()
        }
    }

    private func probe() {
        guard !stopped else { return }
        probing = true
        let started = NIODeadline.now()
        Probe.run(target, on: eventLoop).assumeIsolated().whenSuccess { result in
            self.probing = false
            guard !self.stopped else { return }
            let transition: HealthStateMachine.Transition?
            switch result {
            case .passed(let detail): transition = self.machine.probeSucceeded(at: .now, detail: detail)
            case .failed(let reason): transition = self.machine.probeFailed(at: .now, reason: reason)
            }
            if let transition { self.publish(transition) }
            if self.probeAgain {
                self.probeAgain = false
                self.probe()
                return
            }
            let deadline = started + TimeAmount(self.target.check.interval)
            self.next = self.eventLoop.assumeIsolated().scheduleTask(deadline: max(deadline, .now())) {
                self.probe()
            }
        }
    }

    private func publish(_ transition: HealthStateMachine.Transition) {
        state.setHealth(ServerHealth(machine), for: key)
        changes.increment()
        upGauge.record(transition.to.takesTraffic ? 1 : 0)
        let metadata: Logger.Metadata = [
            "server": "\(key)", "from": "\(transition.from.rawValue)", "to": "\(transition.to.rawValue)",
            "reason": "\(transition.reason)",
        ]
        switch transition.to {
        case .up: logger.notice("server is up", metadata: metadata)
        case .down: logger.warning("server is down", metadata: metadata)
        case .suspect: logger.warning("server is suspect", metadata: metadata)
        case .unknown: logger.info("server health unknown", metadata: metadata)
        }
    }
}
