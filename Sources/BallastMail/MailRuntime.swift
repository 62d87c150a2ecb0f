import BallastCodecs
public import BallastCore
import BallastReporting
public import BallastTLS
import CoreMetrics
public import Logging

/// What a mail relay's connections share: the state to decide with, TLS, the login rules, the
/// open sessions, and metrics. Built at every reload that keeps or adds the relay, so renewed
/// certificates are served to new connections.
public final class MailRuntime: Sendable {
    /// The relay's name.
    public let relayName: String
    /// Where connections take their snapshots.
    public let state: PublishedState
    /// Logged-in sessions, closed when their database's active copy moves.
    public let sessions: MailSessions
    /// The TLS offered to clients (implicit TLS, STARTTLS and STLS), chosen by SNI as at every
    /// engine listener; nil without certificates.
    let tls: TLSServerContext?
    /// Whether clients start with TLS (imaps, pop3s) rather than plain text.
    let implicitTLS: Bool
    /// IMAP or POP3.
    let dialect: MailDialect
    let logger: Logger
    let logins: Counter
    let failures: Counter
    /// Limits password guessing, shared with the node's other listeners.
    let throttle: SharedLoginThrottle
    let throttled: Counter
    /// Client connections open now, logged in or not.
    let active: Meter
    /// Times the relay stopped accepting at its connection limit.
    let limitReached: Counter
    /// TLS handshakes that failed or did not finish in time.
    let handshakeFailures: Counter

    /// A runtime for `relay`, loading its certificates.
    public init(
        relay: Relay, state: PublishedState, sessions: MailSessions, logger: Logger,
        throttle: SharedLoginThrottle = SharedLoginThrottle()
    ) throws(TLSError) {
        self.relayName = relay.name
        self.state = state
        self.sessions = sessions
        self.logger = logger
        self.throttle = throttle
        self.implicitTLS = relay.protocol.isImplicitTLS
        self.dialect = relay.protocol == .pop3 || relay.protocol == .pop3s ? .pop3 : .imap
        let certificates = relay.mail?.certificates ?? []
        self.tls = certificates.isEmpty ? nil : try TLSServerContext(certificates: certificates, alpn: [])
        let dimensions = [("relay", relay.name)]
        self.logins = Counter(label: "ballast_mail_logins_total", dimensions: dimensions + [("result", "ok")])
        self.failures = Counter(label: "ballast_mail_logins_total", dimensions: dimensions + [("result", "refused")])
        self.active = Meter(label: "ballast_relay_connections_active", dimensions: dimensions)
        self.limitReached = Counter(label: "ballast_relay_limit_reached_total", dimensions: dimensions)
        self.handshakeFailures = Counter(label: "ballast_tls_handshake_failures_total", dimensions: dimensions)
        self.throttled = Counter(
            label: "ballast_login_throttled_total",
            dimensions: [("protocol", dialect == .pop3 ? "pop3" : "imap")])
    }

    /// The relay as the current state has it.
    var relay: Relay? { state.current.relay(named: relayName) }

    /// Where a client's login goes.
    enum LoginDecision {
        /// To `target`, the server holding the active copy of `user`'s mailbox.
        case route(user: DirectoryUser, route: MailRouting.Route, target: Endpoint)
        /// Unknown user, wrong password or too many guesses: answered as a failed login after `delay`.
        case refuse(delay: Duration)
        /// The user is known but their mailbox cannot be reached now.
        case unavailable
    }

    /// Checks `password` against the directory and finds the user's server (`UserLogin`), with
    /// the metrics and log lines every outcome gets.
    func decide(login: String, password: String, relay: Relay, client: Endpoint?) -> LoginDecision {
        let clientText = client?.description ?? "?"
        switch UserLogin.decide(
            login: login, password: password, source: client?.address, pool: relay.pool, state: state.current,
            throttle: throttle, now: .now)
        {
        case .throttled(_, let reason, let delay):
            // Answered as a failed login, after the usual delay: the client learns nothing new.
            throttled.increment()
            BadInputLog.shared.report(
                listener: relay.name, reason: "login refused: \(reason.rawValue)", client: clientText, logger: logger,
                detail: "login \(login)")
            return .refuse(delay: delay)
        case .refused(let delay):
            failures.increment()
            BadInputLog.shared.report(
                listener: relay.name, reason: "login refused: unknown user or wrong password", client: clientText,
                logger: logger, detail: "login \(login)")
            return .refuse(delay: delay)
        case .unroutable(_, let failure):
            logger.warning(
                "mail login not routed",
                metadata: ["relay": "\(relay.name)", "login": "\(login)", "reason": "\(failure)"])
            return .unavailable
        case .routed(let user, let route):
            return .route(user: user, route: route, target: relay.target(for: route.server))
        }
    }
}

extension Relay {
    /// A mail relay's handshake and login timeouts (the defaults for a relay of another kind,
    /// which a mail listener never serves).
    var mailTimeouts: MailSettings.Timeouts { mail?.timeouts ?? MailSettings.Timeouts() }
}
