import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The time as the edges read it for their decisions (affinity expiry, nonce age, binding
/// expiry): the system's clocks in a running node; in a test, the same clocks moved forward on
/// demand, so that a test reaches an expiry without waiting for it.
public struct TimeSource: Sendable {
    private let shift: TimeShift?

    /// The system's clocks, unmoved.
    public static let system = TimeSource(shift: nil)

    /// The system's clocks moved forward by whatever `shift` has been advanced by.
    public static func shifted(by shift: TimeShift) -> TimeSource { TimeSource(shift: shift) }

    private init(shift: TimeShift?) { self.shift = shift }

    /// Monotonic time now.
    public var now: ContinuousClock.Instant { .now + offset }

    /// Seconds since 1970 (UTC) now.
    public var wallSeconds: Double {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        let offset = self.offset.components
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9 + Double(offset.seconds)
            + Double(offset.attoseconds) / 1e18
    }

    private var offset: Duration { shift?.offset ?? .zero }
}

/// How far a test has moved its `TimeSource` forward; it only moves forward, as time does.
public final class TimeShift: Sendable {
    private let nanoseconds = Atomic<Int64>(0)

    /// Not moved yet.
    public init() {}

    /// How far the time has been moved.
    public var offset: Duration { .nanoseconds(nanoseconds.load(ordering: .relaxed)) }

    /// Moves the time forward by `duration` at once.
    public func advance(by duration: Duration) {
        let (seconds, attoseconds) = duration.components
        precondition(seconds >= 0 && attoseconds >= 0, "time only moves forward")
        nanoseconds.add(seconds * 1_000_000_000 + attoseconds / 1_000_000_000, ordering: .relaxed)
    }
}
