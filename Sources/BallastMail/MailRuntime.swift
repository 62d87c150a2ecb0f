public import BallastCore
import BallastNIO
import BallastTLS
import CoreMetrics
public import Logging
import NIOCore
import NIOSSL

/// What a mail relay's connections share: the state to decide with, TLS, the login rules, the
/// open sessions, and metrics.
public final class MailRuntime: Sendable {
    /// The relay's name.
    public let relayName: String
    /// Where connections take their snapshots.
    public let state: PublishedState
    /// Logged-in sessions, closed when their database's active copy moves.
    public let sessions: MailSessions
    let tls: NIOSSLContext?
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

    /// A runtime for `relay`, loading its certificates (for implicit TLS, STARTTLS and STLS).
    public init(
        relay: Relay, state: PublishedState, sessions: MailSessions, logger: Logger,
        throttle: SharedLoginThrottle = SharedLoginThrottle()
    ) throws {
        self.relayName = relay.name
        self.state = state
        self.sessions = sessions
        self.logger = logger
        self.throttle = throttle
        self.tls = try Self.serverContext(relay.mail?.certificates ?? [])
        let dimensions = [("relay", relay.name)]
        self.logins = Counter(label: "ballast_mail_logins_total", dimensions: dimensions + [("result", "ok")])
        self.failures = Counter(label: "ballast_mail_logins_total", dimensions: dimensions + [("result", "refused")])
        self.active = Meter(label: "ballast_relay_connections_active", dimensions: dimensions)
        self.limitReached = Counter(label: "ballast_relay_limit_reached_total", dimensions: dimensions)
        self.throttled = Counter(
            label: "ballast_login_throttled_total",
            dimensions: [("protocol", relay.protocol == .pop3 || relay.protocol == .pop3s ? "pop3" : "imap")])
    }

    /// The TLS offered to clients: the first certificate by default, another when the name the
    /// client asks for (SNI) is one it names, chosen as the engine's listeners choose (exactly,
    /// then by a `*.` wildcard). Nil without certificates.
    static func serverContext(_ certificates: [HTTPSettings.Certificate]) throws -> NIOSSLContext? {
        let loaded = try certificates.map { certificate in
            let chain = try NIOSSLCertificate.fromPEMFile(certificate.certificateFile).map {
                NIOSSLCertificateSource.certificate($0)
            }
            return (
                chain, NIOSSLPrivateKeySource.privateKey(try NIOSSLPrivateKey(file: certificate.keyFile, format: .pem))
            )
        }
        guard let (chain, key) = loaded.first else { return nil }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: key)
        configuration.minimumTLSVersion = .tlsv12
        if loaded.count > 1 {
            let chooser = try TLSServerContext(certificates: certificates, alpn: [])
            let overrides = loaded.map { chain, key in
                var override = NIOSSLContextConfigurationOverride()
                override.certificateChain = chain
                override.privateKey = key
                return override
            }
            configuration.sslContextCallback = { hello, promise in
                let index = chooser.certificateIndex(forServerName: hello.serverHostname)
                promise.succeed(index == 0 ? .noChanges : overrides[index])
            }
        }
        return try NIOSSLContext(configuration: configuration)
    }

    /// The deadline for a client's TLS handshake on `relay` (implicit TLS, STARTTLS, STLS).
    func handshakeDeadline(_ relay: Relay) -> ConnectionDeadline {
        ConnectionDeadline(
            timeout: TimeAmount(relay.mailTimeouts.handshake), milestone: .tlsHandshake,
            listener: relay.name,
            reason: "TLS handshake not done within timeouts.handshake", logger: logger)
    }

    /// The relay as the current state has it.
    var relay: Relay? { state.current.relay(named: relayName) }
}

extension Relay {
    /// A mail relay's handshake and login timeouts (the defaults for a relay of another kind,
    /// which a mail listener never serves).
    var mailTimeouts: MailSettings.Timeouts { mail?.timeouts ?? MailSettings.Timeouts() }
}
