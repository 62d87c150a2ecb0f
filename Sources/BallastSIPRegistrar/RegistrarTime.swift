public import BallastCore

#if canImport(Glibc)
    import Glibc
#endif

/// The time a request is answered at, read once by the edge and passed in: the monotonic
/// clock for hold-downs and throttles, the wall clock for binding expiry and nonces (they
/// outlive a restart).
public struct RegistrarTime: Sendable, Hashable {
    /// Monotonic time.
    public var instant: ContinuousClock.Instant
    /// Seconds since 1970 (UTC).
    public var wall: Double

    /// A time.
    public init(instant: ContinuousClock.Instant, wall: Double) {
        self.instant = instant
        self.wall = wall
    }

    /// Both clocks read now.
    public static var now: RegistrarTime { now(from: .system) }

    /// Both clocks of `time` read now.
    public static func now(from time: TimeSource) -> RegistrarTime {
        RegistrarTime(instant: time.now, wall: time.wallSeconds)
    }

    /// Milliseconds since 1970, as nonces carry them.
    public var milliseconds: UInt64 { UInt64(max(0, wall) * 1000) }

    /// `wall` moved by `seconds` and `instant` by the same amount, for tests that step time.
    public func adding(seconds: Double) -> RegistrarTime {
        RegistrarTime(instant: instant + .milliseconds(Int64(seconds * 1000)), wall: wall + seconds)
    }

    /// The `Date` header's text for `wall` (RFC 1123, GMT), without a formatter.
    public var httpDate: String {
        var clock = time_t(wall)
        var parts = tm()
        gmtime_r(&clock, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return
            "\(Self.days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(Self.months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }

    private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
}
