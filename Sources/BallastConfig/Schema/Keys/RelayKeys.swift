import BallastCore

/// A relay of the `relays` section: the keys every protocol takes.
enum RelayKeys {
    static let listen = Key.node(
        "listen", expected: "ADDRESS:PORT such as 10.0.0.10:443", default: "required",
        "`ADDRESS:PORT`, or `ADDRESS` with `ports`")
    static let ports = Key.node(
        "ports", expected: "a list of ports", default: "none",
        "a list of ports: one relay per port, named `NAME-PORT`, each forwarding to the same port on the servers (as relayd configs do)"
    )
    static let relayProtocol = Key.choice(
        "protocol", of: RelayProtocol.self, default: "`tcp`",
        "`tcp` (bytes as they come), `http` (HTTP/1.1, and HTTP/2 by prior knowledge; each request balanced on its own), `https` (TLS terminated by Ballast, HTTP/1.1 and HTTP/2 by ALPN), or the directory-aware mail proxies `imap`, `imaps`, `pop3`, `pop3s` (below)"
    )
    static let pool = Key.name("pool", default: "required", "the pool it forwards to")
    static let mode = Key.choice(
        "mode", of: BalancingMode.self, default: "`round-robin`",
        "`round-robin`, `weighted-round-robin`, `least-connections`, `source-hash` (consistent: a server's loss moves only its clients) or `random`"
    )
    static let persistence = Key.node(
        "persistence", expected: "none, source, or a mapping", default: "`none`",
        "`none`, `source`, or `{type: source, timeout: 30m, size: 100000}`: source-address affinity, expiring after `timeout` without use, at most `size` clients; `http` and `https` relays also take `{type: cookie, ...}` (below)"
    )
    static let connectTimeout = Key.duration(
        "timeouts.connect", default: "`5s`",
        "for a server to accept; a failed connect is retried once on another server")
    static let idleTimeout = Key.duration(
        "timeouts.idle", default: "`30m`", "with no byte either way, the connection is closed")
    static let handshakeTimeout = Key.duration(
        "timeouts.handshake", default: "`5s`", only: ["https", "imap", "imaps", "pop3", "pop3s"],
        "for a client's TLS handshake (implicit or after STARTTLS) to complete; closed after")
    static let loginTimeout = Key.duration(
        "timeouts.login", default: "`60s`", only: ["imap", "imaps", "pop3", "pop3s"],
        "from the connection to a successful login; closed after")
    static let maxConnections = Key.number(
        "max-connections", 1...1_000_000, default: "`4096`", "at the limit new clients wait in the listen backlog")
    static let forwardPort = Key.number(
        "forward-port", 1...65535, default: "the listen port", "port on servers that name none")
    static let proxyProtocol = Key.choice(
        "proxy-protocol", of: Relay.ProxyProtocol.self, default: "`none`",
        "`v1` or `v2`: a PROXY header to the server before the client's bytes")
    static let acceptProxyProtocol = Key.flag(
        "accept-proxy-protocol", default: "`false`",
        "expect a PROXY header (v1 or v2) from the client, as behind another balancer")

    /// The section these keys make up.
    static let section = ConfigSection(
        "relays.NAME", form: "a relay mapping", noun: "relays", kindKey: "protocol", showsKinds: true,
        keys: [
            listen.declaration, ports.declaration, relayProtocol.declaration, pool.declaration, mode.declaration,
            persistence.declaration, connectTimeout.declaration, idleTimeout.declaration, handshakeTimeout.declaration,
            loginTimeout.declaration, maxConnections.declaration, forwardPort.declaration, proxyProtocol.declaration,
            acceptProxyProtocol.declaration,
        ])
}

/// The keys of `http` and `https` relays (and a mail relay's `certificates`).
enum HTTPRelayKeys {
    static let certificates = Key.node(
        "certificates", expected: "a list of {certificate: FILE, key: FILE}", default: "required for `https`",
        only: ["https", "imap", "imaps", "pop3", "pop3s"],
        "`[{certificate: FILE, key: FILE}, ...]`, PEM; chosen by the name the client asks for (SNI, exact names before `*.` wildcards), the first by default. TLS 1.2 and 1.3, ALPN `h2` and `http/1.1`"
    )
    static let serverTLS = Key.node(
        "server-tls", expected: "true, or a mapping", default: "none (plain HTTP)", only: ["http", "https"],
        "`true`, or `{ca-file: FILE, server-name: NAME, verify: true}`: TLS towards servers (re-encryption), verifying their certificate against `ca-file` (the system store without it) unless `verify: false`; `server-name` is sent as SNI and verified, else the server's IP address is"
    )
    static let forwarded = Key.node(
        "forwarded", expected: "a mapping",
        default: "`{x-forwarded-for: add, x-forwarded-proto: replace, forwarded: none}`", only: ["http", "https"],
        "per header, `add` (keep the client's and append), `replace` (set it, dropping what the client sent) or `none` (leave it)"
    )
    static let maxHeaderSize = Key.number(
        "max-header-size", 1024...1_048_576, default: "`32768`", only: ["http", "https"],
        "bytes of a request head; larger heads get 431")
    static let routeByUser = Key.node(
        "route-by-user", expected: TopologyBuilder.routeByUserForm, default: "none (the balancer chooses)",
        only: ["http", "https"],
        "`basic`: each request goes to the server holding the active copy of its user's mailbox, the user taken from HTTP Basic credentials checked against the directory (401 with `WWW-Authenticate: Basic realm=...` without them, and after `store.failure-delay` when they are wrong); `{header: NAME}`: the user named by a header an authenticating front has set, trusted as is (403 without a known user). 503 when the mailbox cannot be reached"
    )
    static let engine = Key.node(
        "engine", expected: "ballast", default: "`ballast`", only: ["http", "https"],
        "the data plane; `ballast` (Ballast's own engine: HTTP/1.1, HTTP/2 from clients by ALPN `h2` on https relays and by prior knowledge (h2c) on plain ones, TLS termination and re-encryption over the BoringSSL that swift-nio-ssl vendors, routing by user) is the only one since it replaced the SwiftNIO relay, and `nio` is refused with a message saying so; the key may be left out. The engine is strict about request framing: `Content-Length` beside `Transfer-Encoding`, a repeated `Content-Length` or `Host`, obs-fold, bare CR or LF and whitespace before a colon get 400. HTTP/2 clients may open 100 streams at once (SETTINGS_MAX_CONCURRENT_STREAMS, as HAProxy); a connection's request bodies may hold 1 MiB and each stream's 64 KiB before the client waits for WINDOW_UPDATE, which Ballast sends only as servers take the bytes; an idle HTTP/2 connection gets GOAWAY after `timeouts.keep-alive`; a stream's response passes through a 32 KiB buffer, so a server's response head larger than that gets 502 over HTTP/2"
    )
    static let requestTimeout = Key.duration(
        "timeouts.request", default: "`10s`", only: ["http", "https"],
        "for a whole request head: the first from the connection's start, later ones from their first byte; 408 after (a connection that sent nothing is closed quietly)"
    )
    static let keepAliveTimeout = Key.duration(
        "timeouts.keep-alive", default: "`75s`", only: ["http", "https"],
        "after a response, for the next request's first byte; the connection is closed quietly after")
    static let serverTimeout = Key.duration(
        "timeouts.server", default: "`60s`", only: ["http", "https"],
        "for the server's response head once the request went out; 504 after")
    static let serverIdleTimeout = Key.duration(
        "timeouts.server-idle", default: "`30s`", only: ["http", "https"],
        "how long an unused keep-alive connection to a server is kept")

    /// The section these keys make up.
    static let section = ConfigSection(
        "relays.NAME", id: "relays.NAME.http", form: "a relay mapping", noun: "relays", kindKey: "protocol",
        keys: [
            certificates.declaration, serverTLS.declaration, forwarded.declaration, maxHeaderSize.declaration,
            routeByUser.declaration, engine.declaration, requestTimeout.declaration, keepAliveTimeout.declaration,
            serverTimeout.declaration, serverIdleTimeout.declaration,
        ])
}

/// A relay's `persistence` written as a mapping.
enum PersistenceKeys {
    static let type = Key.choice(
        "type", of: TopologyBuilder.PersistenceType.self, default: "required",
        "`none`, `source` (the client's address) or `cookie` (http and https relays; keys below)")
    static let timeout = Key.duration(
        "timeout", minimum: .seconds(1), default: "`30m`", only: ["source"], "an entry unused this long is forgotten")
    static let size = Key.number(
        "size", 1...10_000_000, default: "`100000`", only: ["source"],
        "at most this many clients are remembered; the least recently used goes first")

    /// The section these keys make up.
    static let section = ConfigSection(
        "relays.NAME.persistence", form: "none, source, or a mapping", noun: "persistence", kindKey: "type",
        showsKinds: true,
        keys: [type.declaration, timeout.declaration, size.declaration])
}

/// `persistence: {type: cookie, ...}`.
enum CookieKeys {
    static let key = Key.text(
        "key", expected: "a secret of at least 16 characters", default: "required", only: ["cookie"],
        "the signing secret, 16 characters or more; changing it unpins every client")
    static let name = Key.text("name", expected: "a cookie name", default: "`BALLAST`", only: ["cookie"], "cookie name")
    static let secure = Key.flag("secure", default: "`false`", only: ["cookie"], "`Secure` attribute")
    static let httpOnly = Key.flag("http-only", default: "`true`", only: ["cookie"], "`HttpOnly` attribute")
    static let sameSite = Key.node(
        "same-site", expected: "Strict, Lax or None", default: "`Lax`", only: ["cookie"], "`Strict`, `Lax` or `None`")
    static let path = Key.text(
        "path", expected: "a path starting with /", default: "`/`", only: ["cookie"], "`Path` attribute")

    /// The section these keys make up.
    static let section = ConfigSection(
        "relays.NAME.persistence", id: "relays.NAME.persistence.cookie", form: "none, source, or a mapping",
        noun: "persistence", kindKey: "type",
        keys: [
            key.declaration, name.declaration, secure.declaration, httpOnly.declaration, sameSite.declaration,
            path.declaration,
        ])
}

/// An HTTP relay's `server-tls` written as a mapping.
enum ServerTLSKeys {
    static let verify = Key.flag("verify", default: "`true`", "verify the server's certificate")
    static let caFile = Key.text(
        "ca-file", expected: "a path to a PEM file", default: "system store",
        "PEM bundle of the CAs trusted to sign servers' certificates")
    static let serverName = Key.text(
        "server-name", expected: "a DNS name", default: "the server's IP address", "sent as SNI and verified")

    /// The section these keys make up.
    static let section = ConfigSection(
        "relays.NAME.server-tls", form: "true, or a mapping",
        keys: [verify.declaration, caFile.declaration, serverName.declaration])
}

/// An HTTP relay's `forwarded` headers.
enum ForwardedKeys {
    static let xForwardedFor = Key.choice(
        "x-forwarded-for", of: HTTPSettings.HeaderPolicy.self, default: "`add`",
        "`X-Forwarded-For`: `add` the client's address to what it sent, `replace` it, or `none`")
    static let xForwardedProto = Key.choice(
        "x-forwarded-proto", of: HTTPSettings.HeaderPolicy.self, default: "`replace`",
        "`X-Forwarded-Proto`: `http` or `https`")
    static let forwarded = Key.choice(
        "forwarded", of: HTTPSettings.HeaderPolicy.self, default: "`none`",
        "`Forwarded` (RFC 7239): `for=` and `proto=`")

    /// The section these keys make up.
    static let section = ConfigSection(
        "relays.NAME.forwarded", form: "a mapping",
        keys: [xForwardedFor.declaration, xForwardedProto.declaration, forwarded.declaration])
}

/// One entry of a `certificates` list (HTTPS and mail relays, the SIP edge).
enum CertificateKeys {
    static let certificate = Key.text(
        "certificate", expected: "a path to a PEM certificate chain", default: "required",
        "PEM file: the certificate, then its chain")
    static let key = Key.text(
        "key", expected: "a path to a PEM private key", default: "required",
        "PEM file: its private key (readable by Ballast's user only)")

    /// The section these keys make up.
    static let section = ConfigSection(
        "certificates[N]", form: "{certificate: FILE, key: FILE}", keys: [certificate.declaration, key.declaration])
}

/// `route-by-user` written as a mapping.
enum UserRoutingKeys {
    static let header = Key.text(
        "header", expected: "a header name", default: "required",
        "the header an authenticating front sets to the user's name")

    /// The section these keys make up.
    static let section = ConfigSection(
        "relays.NAME.route-by-user", form: "basic, or {header: X-Authenticated-User}", keys: [header.declaration])
}
