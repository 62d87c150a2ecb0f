/// A server's health as checks and live traffic see it.
public enum HealthStatus: String, Hashable, Sendable, CaseIterable {
    /// Not probed yet; takes traffic so that a node starting up serves at once.
    case unknown
    /// Passing its checks.
    case up
    /// A relay could not connect to it; out of rotation until a probe says otherwise.
    case suspect
    /// Failed `fall` probes in a row; out of rotation until it passes `rise`.
    case down

    /// Whether new connections may go to a server in this state.
    public var takesTraffic: Bool {
        switch self {
        case .unknown, .up: return true
        case .suspect, .down: return false
        }
    }
}

/// The rise/fall state machine of one server's health.
///
/// Events go in with the time they happened; a transition comes out when the status
/// changes, and the caller publishes it. No clock, no socket.
public struct HealthStateMachine: Hashable, Sendable {
    /// A status change the caller must publish.
    public struct Transition: Hashable, Sendable {
        /// The status before.
        public var from: HealthStatus
        /// The status now.
        public var to: HealthStatus
        /// Why, in words for a log line.
        public var reason: String
    }

    /// Consecutive successes that bring a down server up.
    public let rise: Int
    /// Consecutive failures that take an up server down.
    public let fall: Int
    /// The current status.
    public private(set) var status: HealthStatus = .unknown
    /// When the current status began.
    public private(set) var since: ContinuousClock.Instant
    /// The last probe's result in words.
    public private(set) var lastResult: String = "not probed yet"
    private var successes = 0
    private var failures = 0

    /// A machine in `unknown` state.
    public init(rise: Int, fall: Int, now: ContinuousClock.Instant) {
        precondition(rise >= 1 && fall >= 1, "rise and fall must be at least 1")
        self.rise = rise
        self.fall = fall
        self.since = now
    }

    /// A probe passed.
    public mutating func probeSucceeded(at now: ContinuousClock.Instant, detail: String = "ok") -> Transition? {
        lastResult = detail
        failures = 0
        switch status {
        case .unknown, .suspect:
            return move(to: .up, at: now, reason: detail)
        case .up:
            return nil
        case .down:
            successes += 1
            if successes >= rise {
                return move(to: .up, at: now, reason: "\(successes) probes passed: \(detail)")
            }
            return nil
        }
    }

    /// A probe failed or timed out.
    public mutating func probeFailed(at now: ContinuousClock.Instant, reason: String) -> Transition? {
        lastResult = reason
        successes = 0
        switch status {
        case .unknown:
            return move(to: .down, at: now, reason: reason)
        case .up, .suspect:
            failures += 1
            if failures >= fall {
                return move(to: .down, at: now, reason: "\(failures) probes failed: \(reason)")
            }
            return nil
        case .down:
            return nil
        }
    }

    /// Live traffic could not reach the server (connection refused or timed out).
    ///
    /// An up server becomes suspect at once and leaves rotation; the failure counts as
    /// one failed probe, and the caller should probe it now to settle the question.
    public mutating func observedFailure(at now: ContinuousClock.Instant, reason: String) -> Transition? {
        switch status {
        case .unknown, .up:
            failures = max(failures, 0) + 1
            successes = 0
            if failures >= fall {
                return move(to: .down, at: now, reason: "\(failures) failures: \(reason)")
            }
            return move(to: .suspect, at: now, reason: reason)
        case .suspect, .down:
            return nil
        }
    }

    private mutating func move(to next: HealthStatus, at now: ContinuousClock.Instant, reason: String) -> Transition? {
        guard next != status else { return nil }
        let transition = Transition(from: status, to: next, reason: reason)
        status = next
        since = now
        successes = 0
        if next == .up { failures = 0 }
        return transition
    }
}
