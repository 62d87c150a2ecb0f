public import BallastCore

/// The one login decision of every relay that takes a directory user's password and sends the
/// session to their mailbox's server (HTTP route-by-user with Basic credentials, IMAP, POP3):
/// the guessing throttle first, then the password against the directory's HA1 values, then the
/// server holding the active copy. The relays only say the outcome in their protocol.
///
/// Time is passed in; the throttle is the node's shared one, so that guesses over every
/// protocol count together.
public enum UserLogin {
    /// What came of a login.
    public enum Outcome: Hashable, Sendable {
        /// The password is right and the user's mailbox is reachable at `route`.
        case routed(DirectoryUser, MailRouting.Route)
        /// Refused before the password was checked, until `until`: too many failures from the
        /// source or for the user. A protocol without a retry hint answers it as a failed login
        /// after `delay`, so that the client learns nothing new.
        case throttled(until: ContinuousClock.Instant, reason: LoginThrottle.Reason, delay: Duration)
        /// Unknown user or wrong password (told apart only in the log): answered after `delay`.
        case refused(delay: Duration)
        /// The password is right but the mailbox cannot be reached now; the failure says why.
        case unroutable(DirectoryUser, MailRouting.Failure)
    }

    /// The failure delay when the config sets none (`store.failure-delay`).
    public static let defaultFailureDelay: Duration = .milliseconds(500)

    /// The realm the directory's HA1 values are computed in: the store's, else SIP's (a users
    /// file); nil when the node has neither, and so no passwords.
    public static func realm(in state: State) -> String? {
        state.topology.store?.realm ?? state.sip?.realm
    }

    /// How long a failed login waits for its answer, at least.
    public static func failureDelay(in state: State) -> Duration {
        state.topology.store?.failureDelay ?? defaultFailureDelay
    }

    /// Decides the login of `login` with `password` from `source` (nil when unknown: not
    /// throttled) to a relay over `pool`.
    public static func decide(
        login: String, password: String, source: IPAddress?, pool: String, state: State, throttle: SharedLoginThrottle,
        now: ContinuousClock.Instant
    ) -> Outcome {
        let failureDelay = failureDelay(in: state)
        if let source, case .refuse(let until, let reason) = throttle.check(user: login, source: source, now: now) {
            return .throttled(until: until, reason: reason, delay: failureDelay)
        }
        guard
            let user = DirectoryLogin.verify(
                login: login, password: password, directory: state.directory, realm: realm(in: state) ?? "")
        else {
            let penalty = source.map { throttle.failed(user: login, source: $0, now: now) } ?? .zero
            return .refused(delay: max(failureDelay, penalty))
        }
        if let source { throttle.succeeded(user: login, source: source, now: now) }
        switch MailRouting.server(for: user, pool: pool, in: state) {
        case .success(let route): return .routed(user, route)
        case .failure(let failure): return .unroutable(user, failure)
        }
    }
}
