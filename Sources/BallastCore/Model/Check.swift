/// A health check: how to probe a server and how many results change its state.
public struct Check: Hashable, Sendable {
    /// What the probe does.
    public enum Kind: Hashable, Sendable {
        /// A TCP connect that succeeds.
        case tcp
        /// A TCP connect followed by a completed TLS handshake.
        case tls(TLSProbe)
        /// An HTTP GET (over TLS when `tls` is set) answered with an expected status.
        case http(HTTPProbe, tls: TLSProbe?)
        /// A SIP OPTIONS request answered with an expected status (Kamailio dispatcher and
        /// Lync pool pinging do the same).
        case sipOptions(SIPProbe)
    }

    /// SIP OPTIONS parameters of a probe.
    public struct SIPProbe: Hashable, Sendable {
        /// How the OPTIONS is sent.
        public var transport: SIPSettings.Transport
        /// Statuses that count as healthy: any answer below 500 by default, since a server
        /// that says 404 or 405 to OPTIONS is alive.
        public var expectStatus: ClosedRange<Int>
        /// TLS settings for the tls transport.
        public var tls: TLSProbe

        /// SIP probe settings.
        public init(
            transport: SIPSettings.Transport = .udp, expectStatus: ClosedRange<Int> = 200...499,
            tls: TLSProbe = TLSProbe()
        ) {
            self.transport = transport
            self.expectStatus = expectStatus
            self.tls = tls
        }
    }

    /// TLS parameters of a probe.
    public struct TLSProbe: Hashable, Sendable {
        /// Verify the server's certificate chain and name.
        public var verify: Bool
        /// PEM bundle of trusted CAs; the system store when absent.
        public var caFile: String?
        /// The name sent as SNI and verified; the server address when absent.
        public var serverName: String?

        /// TLS probe settings.
        public init(verify: Bool = false, caFile: String? = nil, serverName: String? = nil) {
            self.verify = verify
            self.caFile = caFile
            self.serverName = serverName
        }
    }

    /// HTTP parameters of a probe.
    public struct HTTPProbe: Hashable, Sendable {
        /// Request path, starting with `/`.
        public var path: String
        /// The Host header; the server address when absent.
        public var host: String?
        /// Statuses that count as healthy.
        public var expectStatus: ClosedRange<Int>
        /// A substring the body must contain, when set.
        public var expectBody: String?

        /// HTTP probe settings.
        public init(
            path: String = "/", host: String? = nil, expectStatus: ClosedRange<Int> = 200...399,
            expectBody: String? = nil
        ) {
            self.path = path
            self.host = host
            self.expectStatus = expectStatus
            self.expectBody = expectBody
        }
    }

    /// What the probe does.
    public var kind: Kind
    /// Port to probe; the server's port when absent.
    public var port: Int?
    /// Time between probes.
    public var interval: Duration
    /// Time a probe may take before it counts as failed.
    public var timeout: Duration
    /// Consecutive successes that bring a down server up.
    public var rise: Int
    /// Consecutive failures that take an up server down.
    public var fall: Int

    /// A check with HAProxy's defaults (2 s interval, rise 2, fall 3) unless given.
    public init(
        kind: Kind = .tcp, port: Int? = nil, interval: Duration = .seconds(2), timeout: Duration = .seconds(1),
        rise: Int = 2, fall: Int = 3
    ) {
        self.kind = kind
        self.port = port
        self.interval = interval
        self.timeout = timeout
        self.rise = rise
        self.fall = fall
    }

    /// The longest time from a server's death until it is out of rotation.
    public var detectionBound: Duration { interval * fall }
}
