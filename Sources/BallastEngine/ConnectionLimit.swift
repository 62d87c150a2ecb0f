import Synchronization

/// A listener's count of open connections against its limit, shared by every loop: a loop
/// that finds the limit reached stops accepting and is woken when a connection ends, so that
/// further clients wait in the kernel's backlog (HAProxy's maxconn).
public final class ConnectionLimit: Sendable {
    private let active = Atomic<Int>(0)
    private let limit: Atomic<Int>
    private let pausedLoops = Mutex<[Int: EngineLoop]>([:])
    private let pausedCount = Atomic<Int>(0)

    /// A count starting at zero under `limit`.
    public init(limit: Int) {
        self.limit = Atomic(limit)
    }

    /// Connections open now.
    public var count: Int { active.load(ordering: .relaxed) }

    /// The limit now.
    public var maximum: Int { limit.load(ordering: .relaxed) }

    /// Counts a connection about to be accepted, unless the limit is reached.
    public func reserve() -> Bool {
        let max = limit.load(ordering: .relaxed)
        var current = active.load(ordering: .relaxed)
        while current < max {
            let (exchanged, original) = active.weakCompareExchange(
                expected: current, desired: current + 1, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
        return false
    }

    /// Whether another connection fits.
    public var hasRoom: Bool { active.load(ordering: .relaxed) < limit.load(ordering: .relaxed) }

    /// A connection ended; wakes the loops that paused for `listener`.
    public func release(listener: any EngineListener) {
        active.wrappingSubtract(1, ordering: .relaxed)
        wakePausedLoops(listener: listener)
    }

    /// Sets a new limit (after a reload) and wakes paused loops if it left room.
    public func change(to newLimit: Int, listener: any EngineListener) {
        limit.store(newLimit, ordering: .relaxed)
        wakePausedLoops(listener: listener)
    }

    /// Notes that `loop` paused; true when it is the first to, which is worth a log line.
    public func paused(_ loop: EngineLoop) -> Bool {
        pausedLoops.withLock { paused -> Bool in
            let wasEmpty = paused.isEmpty
            paused[loop.index] = loop
            pausedCount.store(paused.count, ordering: .relaxed)
            return wasEmpty
        }
    }

    private func wakePausedLoops(listener: any EngineListener) {
        guard pausedCount.load(ordering: .relaxed) > 0, hasRoom else { return }
        let loops = pausedLoops.withLock { paused -> [EngineLoop] in
            defer {
                paused.removeAll()
                pausedCount.store(0, ordering: .relaxed)
            }
            return Array(paused.values)
        }
        for loop in loops { loop.execute { $0.resume(listener) } }
    }
}
