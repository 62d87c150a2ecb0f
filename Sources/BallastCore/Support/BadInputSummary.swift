/// Decides which reports of bad input are logged in full and which are only counted, so that a
/// flood of malformed packets costs a few log lines per interval instead of one per packet.
///
/// Per listener and reason, the first `fullLines` reports of each interval are logged whole (with
/// the client's address); the rest are counted, and `flush` returns one summary per listener and
/// reason that had more. Time is passed in. The table is bounded: past `maxKeys` distinct pairs,
/// further reasons are filed under `other`.
public struct BadInputSummary: Sendable {
    /// A listener and a reason: what a summary line is about.
    public struct Key: Hashable, Sendable {
        public var listener: String
        public var reason: String

        public init(listener: String, reason: String) {
            self.listener = listener
            self.reason = reason
        }
    }

    /// What happened to one pair in an interval that ended.
    public struct Summary: Hashable, Sendable {
        public var key: Key
        /// Reports in the interval, logged or not.
        public var total: Int
        /// Reports counted but not logged.
        public var suppressed: Int
    }

    private struct Window {
        var started: ContinuousClock.Instant
        var total = 0
    }

    /// Length of an interval.
    public let interval: Duration
    /// Reports logged whole per pair and interval.
    public let fullLines: Int
    /// Distinct pairs tracked at once.
    public let maxKeys: Int
    private var windows: [Key: Window] = [:]

    /// A summary with these limits.
    public init(interval: Duration = .seconds(10), fullLines: Int = 5, maxKeys: Int = 256) {
        self.interval = interval
        self.fullLines = fullLines
        self.maxKeys = maxKeys
    }

    /// Records one report; whether to log it in full. The key it was filed under comes back too
    /// (another reason when the table is full).
    public mutating func record(_ key: Key, now: ContinuousClock.Instant) -> (logInFull: Bool, filedAs: Key) {
        var key = key
        if windows[key] == nil && windows.count >= maxKeys {
            key = Key(listener: key.listener, reason: "other")
        }
        var window = windows[key] ?? Window(started: now)
        window.total += 1
        windows[key] = window
        return (window.total <= fullLines, key)
    }

    /// Summaries of the intervals that have ended by `now`, for pairs that had reports counted but
    /// not logged; those intervals are forgotten, so that the next report opens a new one.
    public mutating func flush(now: ContinuousClock.Instant) -> [Summary] {
        var out: [Summary] = []
        for (key, window) in windows where now - window.started >= interval {
            if window.total > fullLines {
                out.append(Summary(key: key, total: window.total, suppressed: window.total - fullLines))
            }
            windows[key] = nil
        }
        return out.sorted { ($0.key.listener, $0.key.reason) < ($1.key.listener, $1.key.reason) }
    }
}
