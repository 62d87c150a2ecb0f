import Atomics
import Synchronization

/// Publishes `State` atomically: readers load the current value without a lock, writers
/// are serialised, and every publication bumps the version and reaches subscribers.
public final class PublishedState: Sendable {
    private final class Box: AtomicReference, Sendable {
        let state: State
        init(_ state: State) { self.state = state }
    }

    /// An error from a change an operator asked for.
    public struct ChangeError: Error, Hashable, Sendable, CustomStringConvertible {
        /// What went wrong.
        public var description: String
    }

    private struct Inputs: Sendable {
        var version: UInt64
        var topology: Topology
        var health: [ProbeKey: ServerHealth]
        var overrides: OperatorOverrides
        var loads: [ServerKey: ServerLoad]
        var directory: Directory
        var lostPools: Set<String> = []
        var subscribers: [Int: AsyncStream<State>.Continuation]
        var nextSubscriber: Int
    }

    private let published: ManagedAtomic<Box>
    private let inputs: Mutex<Inputs>

    /// Publishes version 1 of `topology`, every checked server `unknown`.
    public init(
        topology: Topology, overrides: OperatorOverrides = OperatorOverrides(), now: ContinuousClock.Instant = .now
    ) {
        var inputs = Inputs(
            version: 1, topology: topology, health: [:], overrides: overrides, loads: [:], directory: Directory(),
            subscribers: [:],
            nextSubscriber: 0)
        PublishedState.reconcile(&inputs, previous: nil, now: now)
        let state = PublishedState.build(inputs)
        self.published = ManagedAtomic(Box(state))
        self.inputs = Mutex(inputs)
    }

    /// The state in force now.
    public var current: State { published.load(ordering: .acquiring).state }

    /// A stream of the states published from now on. By default a reader that lags sees only
    /// the newest, which is all an edge needs; `.unbounded` keeps every one.
    public func updates(
        bufferingPolicy: AsyncStream<State>.Continuation.BufferingPolicy = .bufferingNewest(1)
    ) -> AsyncStream<State> {
        let (stream, continuation) = AsyncStream<State>.makeStream(bufferingPolicy: bufferingPolicy)
        let id = inputs.withLock { inputs in
            let id = inputs.nextSubscriber
            inputs.nextSubscriber += 1
            inputs.subscribers[id] = continuation
            return id
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.inputs.withLock { $0.subscribers.removeValue(forKey: id) }
        }
        return stream
    }

    /// Publishes a new topology. Health of servers whose address, port or check is unchanged
    /// is kept; others start `unknown`. Drains of servers that no longer exist are dropped.
    /// With `directory`, that directory is published in the same version (a reload that read the
    /// users file again), so that no edge sees the new topology with the old users.
    @discardableResult
    public func replaceTopology(
        _ topology: Topology, directory: Directory? = nil, now: ContinuousClock.Instant = .now
    ) -> State {
        publish { inputs in
            let previous = inputs.topology
            inputs.topology = topology
            if let directory { inputs.directory = directory }
            PublishedState.reconcile(&inputs, previous: previous, now: now)
        }
    }

    /// Publishes the new health of one probed port; ignored for probes the topology no
    /// longer has (a checker that a reload just stopped).
    @discardableResult
    public func setHealth(_ health: ServerHealth, for key: ProbeKey) -> State {
        publish { inputs in
            guard inputs.health[key] != nil else { return }
            inputs.health[key] = health
        }
    }

    /// Publishes a new directory (users file re-read, store change).
    @discardableResult
    public func replaceDirectory(_ directory: Directory) -> State {
        publish { inputs in inputs.directory = directory }
    }

    /// Drains or undrains a server: a drained server takes no new connections, and keeps
    /// the ones it has.
    @discardableResult
    public func setDrained(_ drained: Bool, for key: ServerKey) throws(ChangeError) -> State {
        guard current.topology.server(key) != nil else {
            throw ChangeError(description: "no server \(key): name one as POOL/SERVER from `ballast status`")
        }
        return publish { inputs in
            if drained { inputs.overrides.drained.insert(key) } else { inputs.overrides.drained.remove(key) }
        }
    }

    /// Publishes the pools whose users their backup registrar serves, when that changed;
    /// nil when it did not. Pools the topology no longer has are dropped.
    @discardableResult
    public func setLostPools(_ lost: Set<String>) -> State? {
        let changed = inputs.withLock { inputs in
            inputs.lostPools != lost.filter { inputs.topology.pool(named: $0) != nil }
        }
        guard changed else { return nil }
        return publish { inputs in inputs.lostPools = lost.filter { inputs.topology.pool(named: $0) != nil } }
    }

    private func publish(_ change: (inout Inputs) -> Void) -> State {
        let (state, subscribers) = inputs.withLock { inputs in
            change(&inputs)
            inputs.version += 1
            let state = PublishedState.build(inputs)
            // Stored under the lock so that publications never overtake each other.
            published.store(Box(state), ordering: .releasing)
            return (state, Array(inputs.subscribers.values))
        }
        for subscriber in subscribers { subscriber.yield(state) }
        return state
    }

    private static func build(_ inputs: Inputs) -> State {
        State(
            version: inputs.version, topology: inputs.topology, health: inputs.health, overrides: inputs.overrides,
            loads: inputs.loads, directory: inputs.directory, lostPools: inputs.lostPools)
    }

    /// Makes health, loads and overrides fit the topology in `inputs`. A probe keeps its
    /// health when its server and check are unchanged; a new or changed one starts `unknown`.
    private static func reconcile(_ inputs: inout Inputs, previous: Topology?, now: ContinuousClock.Instant) {
        inputs.lostPools = inputs.lostPools.filter { inputs.topology.pool(named: $0) != nil }
        var loads: [ServerKey: ServerLoad] = [:]
        for pool in inputs.topology.pools {
            for key in pool.serverKeys { loads[key] = inputs.loads[key] ?? ServerLoad() }
        }
        var health: [ProbeKey: ServerHealth] = [:]
        for probe in inputs.topology.probes {
            let oldPool = previous?.pool(named: probe.key.server.pool)
            let unchanged = oldPool?.check == probe.check && oldPool?.server(named: probe.server.name) == probe.server
            if unchanged, let kept = inputs.health[probe.key] {
                health[probe.key] = kept
            } else {
                health[probe.key] = ServerHealth(status: .unknown, since: now, lastResult: "not probed yet")
            }
        }
        inputs.health = health
        inputs.loads = loads
        inputs.overrides.drained = inputs.overrides.drained.filter { inputs.topology.server($0) != nil }
    }
}
