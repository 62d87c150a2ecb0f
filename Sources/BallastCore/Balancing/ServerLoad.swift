import Atomics

/// Live connection counters of one server, shared by every relay and every state that
/// names it. Lock-free: the relays update it from any event loop.
public final class ServerLoad: Sendable {
    private let activeCounter = ManagedAtomic<Int>(0)
    private let totalCounter = ManagedAtomic<UInt64>(0)
    private let failedCounter = ManagedAtomic<UInt64>(0)

    /// A load with zero connections.
    public init() {}

    /// Connections open to the server now.
    public var active: Int { activeCounter.load(ordering: .relaxed) }
    /// Connections opened to the server since start.
    public var total: UInt64 { totalCounter.load(ordering: .relaxed) }

    /// Connection attempts to the server that failed (refused or timed out), as HAProxy's `econ`.
    public var failedConnects: UInt64 { failedCounter.load(ordering: .relaxed) }

    /// A connection attempt to the server failed.
    public func connectFailed() {
        failedCounter.wrappingIncrement(ordering: .relaxed)
    }

    /// A connection to the server opened.
    public func opened() {
        activeCounter.wrappingIncrement(ordering: .relaxed)
        totalCounter.wrappingIncrement(ordering: .relaxed)
    }

    /// A connection to the server closed.
    public func closed() {
        activeCounter.wrappingDecrement(ordering: .relaxed)
    }
}
