/// Limits password guessing, per source address and per user, across every protocol that
/// checks a password against the directory (SIP digest, IMAP, POP3, HTTP Basic).
///
/// - A source (an IPv4 address, or an IPv6 /64) gets its first `sourceFree` failures answered at
///   the usual pace; after that each failure is answered later, the delay doubling up to
///   `maxDelay`; at `sourceBlockAfter` failures the source is refused for `sourceBlock`.
/// - A user's failures from addresses it never logged in from count too: past `userFree` they are
///   delayed the same way, and at `userBlockAfter` such addresses are refused for that user for
///   `userBlock` (each refused attempt still counts against its address). Addresses the user logged in from before (`knownFor`) are never refused or
///   delayed for the user's sake, so a guesser cannot lock the real user out of their usual
///   place, and elsewhere only for `userBlock` at a time.
/// - Counts are forgotten after `quiet` without a failure. Tables are bounded (`capacity` entries
///   each); past it the entries quiet the longest go first.
///
/// Time is passed in; the type does no I/O.
public struct LoginThrottle: Sendable {
    /// The limits; defaults in the spirit of fail2ban and Dovecot's auth penalty.
    public struct Limits: Hashable, Sendable {
        public var sourceFree = 3
        public var sourceBlockAfter = 20
        public var sourceBlock: Duration = .seconds(300)
        public var userFree = 5
        public var userBlockAfter = 10
        public var userBlock: Duration = .seconds(30)
        public var baseDelay: Duration = .milliseconds(250)
        public var maxDelay: Duration = .seconds(8)
        public var quiet: Duration = .seconds(600)
        public var knownFor: Duration = .seconds(30 * 86_400)
        public var capacity = 50_000

        public init() {}
    }

    /// What to do with a login attempt before its password is checked.
    public enum Verdict: Hashable, Sendable {
        /// Check it.
        case allow
        /// Refuse it without checking, until `until`; the reason says which limit.
        case refuse(until: ContinuousClock.Instant, reason: Reason)
    }

    /// Which limit refused an attempt.
    public enum Reason: String, Hashable, Sendable {
        case source = "too many failed logins from this address"
        case user = "too many failed logins for this user from addresses it does not use"
    }

    private struct Count {
        var failures = 0
        var last: ContinuousClock.Instant
        var blockedUntil: ContinuousClock.Instant?
    }

    private struct Pair: Hashable {
        var user: String
        var source: IPAddress
    }

    public let limits: Limits
    private var sources: [IPAddress: Count] = [:]
    private var users: [String: Count] = [:]
    private var known: [Pair: ContinuousClock.Instant] = [:]

    /// An empty throttle with these limits.
    public init(limits: Limits = Limits()) { self.limits = limits }

    /// The key a source is counted under: IPv6 clients by their /64, which one host usually holds.
    public static func sourceKey(_ address: IPAddress) -> IPAddress {
        address.family == .v4 ? address : IPAddress(v6High: address.high, low: 0)
    }

    /// Whether an attempt by `user` (as the directory names it, or as typed) from `source` may be checked now.
    public mutating func check(user: String, source: IPAddress, now: ContinuousClock.Instant) -> Verdict {
        let key = Self.sourceKey(source)
        if let until = live(sources[key], now: now)?.blockedUntil, until > now {
            return .refuse(until: until, reason: .source)
        }
        if !isKnown(user: user, source: key, now: now), let until = live(users[user], now: now)?.blockedUntil,
            until > now
        {
            // Still guessing: counts against the address as a failure would.
            count(failureOf: key, now: now)
            return .refuse(until: until, reason: .user)
        }
        return .allow
    }

    /// One more failure of a source; blocks it at `sourceBlockAfter`. Its failure count after.
    @discardableResult
    private mutating func count(failureOf key: IPAddress, now: ContinuousClock.Instant) -> Int {
        var source = live(sources[key], now: now) ?? Count(last: now)
        source.failures += 1
        source.last = now
        if source.failures >= limits.sourceBlockAfter && source.blockedUntil.map({ $0 <= now }) ?? true {
            source.blockedUntil = now + limits.sourceBlock
        }
        store(&sources, key, source)
        return source.failures
    }

    /// Records a failed attempt; how long to wait before answering it.
    public mutating func failed(user: String, source: IPAddress, now: ContinuousClock.Instant) -> Duration {
        let key = Self.sourceKey(source)
        var delay = delay(after: count(failureOf: key, now: now) - limits.sourceFree)
        if !isKnown(user: user, source: key, now: now) {
            var count = live(users[user], now: now) ?? Count(last: now)
            count.failures += 1
            count.last = now
            if count.failures >= limits.userBlockAfter { count.blockedUntil = now + limits.userBlock }
            store(&users, user, count)
            delay = max(delay, self.delay(after: count.failures - limits.userFree))
        }
        return delay
    }

    /// Records a successful login: the address becomes one the user is known at.
    public mutating func succeeded(user: String, source: IPAddress, now: ContinuousClock.Instant) {
        let pair = Pair(user: user, source: Self.sourceKey(source))
        if known[pair] == nil && known.count >= limits.capacity {
            let cutoff = known.values.sorted()[known.count / 2]
            known = known.filter { $0.value > cutoff }
        }
        known[pair] = now
    }

    /// Entries held, for tests of the bound.
    public var entries: Int { sources.count + users.count + known.count }

    private func isKnown(user: String, source: IPAddress, now: ContinuousClock.Instant) -> Bool {
        guard let at = known[Pair(user: user, source: source)] else { return false }
        return now - at < limits.knownFor
    }

    /// A count still in force: its last failure was within `quiet`, or it is blocked.
    private func live(_ count: Count?, now: ContinuousClock.Instant) -> Count? {
        guard let count else { return nil }
        if let until = count.blockedUntil, until > now { return count }
        return now - count.last < limits.quiet ? count : nil
    }

    /// `baseDelay` doubled for each failure past the free ones, at most `maxDelay`; zero before.
    private func delay(after excess: Int) -> Duration {
        guard excess > 0 else { return .zero }
        var delay = limits.baseDelay
        for _ in 1..<min(excess, 32) where delay < limits.maxDelay { delay *= 2 }
        return min(delay, limits.maxDelay)
    }

    private func store<Key: Hashable>(_ table: inout [Key: Count], _ key: Key, _ count: Count) {
        if table[key] == nil && table.count >= limits.capacity {
            // Forget the half quiet the longest; blocked entries only once their block is over.
            let cutoff = table.values.map(\.last).sorted()[table.count / 2]
            table = table.filter { $0.value.last > cutoff || ($0.value.blockedUntil.map { $0 > count.last } ?? false) }
        }
        table[key] = count
    }
}
