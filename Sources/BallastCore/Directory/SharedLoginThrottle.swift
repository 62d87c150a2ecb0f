import Synchronization

/// The node's one `LoginThrottle`, shared by every listener that checks passwords, so that
/// guesses spread over SIP, IMAP, POP3 and HTTP count together. One short lock per login attempt.
public final class SharedLoginThrottle: Sendable {
    private let throttle: Mutex<LoginThrottle>

    /// A throttle with these limits.
    public init(limits: LoginThrottle.Limits = LoginThrottle.Limits()) {
        throttle = Mutex(LoginThrottle(limits: limits))
    }

    /// See `LoginThrottle.check`.
    public func check(user: String, source: IPAddress, now: ContinuousClock.Instant = .now) -> LoginThrottle.Verdict {
        throttle.withLock { $0.check(user: user, source: source, now: now) }
    }

    /// See `LoginThrottle.failed`.
    public func failed(user: String, source: IPAddress, now: ContinuousClock.Instant = .now) -> Duration {
        throttle.withLock { $0.failed(user: user, source: source, now: now) }
    }

    /// See `LoginThrottle.succeeded`.
    public func succeeded(user: String, source: IPAddress, now: ContinuousClock.Instant = .now) {
        throttle.withLock { $0.succeeded(user: user, source: source, now: now) }
    }
}
