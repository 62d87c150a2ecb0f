/// What an `http` or `https` relay adds to a TCP relay: TLS on both sides, forwarding
/// headers, limits and the timeouts of a request.
public struct HTTPSettings: Hashable, Sendable {
    /// A certificate chain and its private key, both PEM files.
    public struct Certificate: Hashable, Sendable {
        /// PEM file with the leaf certificate first, then any intermediates.
        public var certificateFile: String
        /// PEM file with the private key.
        public var keyFile: String

        /// A certificate from its two files.
        public init(certificateFile: String, keyFile: String) {
            self.certificateFile = certificateFile
            self.keyFile = keyFile
        }
    }

    /// TLS towards the servers (re-encryption): the same settings a TLS check takes.
    public typealias ServerTLS = Check.TLSProbe

    /// What a relay does with a forwarding header the client sent.
    public enum HeaderPolicy: String, Hashable, Sendable, CaseIterable {
        /// Leave the header as the client sent it.
        case none
        /// Keep the client's values and add the client Ballast saw (nginx `proxy_add_x_forwarded_for`).
        case add
        /// Drop the client's values and set the client Ballast saw, as the first proxy must.
        case replace
    }

    /// How long an HTTP relay waits.
    public struct Timeouts: Hashable, Sendable {
        /// For a whole request head once its first byte came (HAProxy `timeout http-request`); 408 after.
        public var request: Duration
        /// For a server's response head once the request was sent (HAProxy `timeout server`); 504 after.
        public var server: Duration
        /// How long an unused keep-alive connection to a server stays in the pool.
        public var serverIdle: Duration
        /// For the next request's first byte after a response (HAProxy `timeout http-keep-alive`,
        /// nginx `keepalive_timeout`); the connection is closed quietly after.
        public var keepAlive: Duration
        /// For an https client's TLS handshake to complete; the connection is closed after.
        public var handshake: Duration

        /// Timeouts with Ballast's defaults unless given.
        public init(
            request: Duration = .seconds(10), server: Duration = .seconds(60), serverIdle: Duration = .seconds(30),
            keepAlive: Duration = .seconds(75), handshake: Duration = .seconds(5)
        ) {
            self.request = request
            self.server = server
            self.serverIdle = serverIdle
            self.keepAlive = keepAlive
            self.handshake = handshake
        }
    }

    /// Certificates offered to clients, chosen by SNI; the first is the default. Empty for `http`.
    public var certificates: [Certificate]
    /// TLS towards servers; plain HTTP when nil.
    public var serverTLS: ServerTLS?
    /// `X-Forwarded-For`.
    public var xForwardedFor: HeaderPolicy
    /// `X-Forwarded-Proto`.
    public var xForwardedProto: HeaderPolicy
    /// RFC 7239 `Forwarded`.
    public var forwarded: HeaderPolicy
    /// Largest request head accepted, in bytes; 431 above it.
    public var maxHeaderBytes: Int
    /// Request timeouts.
    public var timeouts: Timeouts
    /// Most idle keep-alive connections kept per server and relay thread.
    public var serverPoolSize: Int
    /// When set, each request goes to the server holding the active copy of its user's mailbox
    /// instead of the balancer's choice.
    public var userRouting: UserRouting?

    /// How an HTTP relay learns who a request's user is.
    public enum UserRouting: Hashable, Sendable {
        /// HTTP Basic credentials, checked against the directory (401 without them).
        case basic
        /// A header an authenticating front has set, trusted as is (403 without it).
        case header(String)
    }

    /// HTTP settings with defaults unless given.
    public init(
        certificates: [Certificate] = [], serverTLS: ServerTLS? = nil, xForwardedFor: HeaderPolicy = .add,
        xForwardedProto: HeaderPolicy = .replace, forwarded: HeaderPolicy = .none, maxHeaderBytes: Int = 32 * 1024,
        timeouts: Timeouts = Timeouts(), serverPoolSize: Int = 1024
    ) {
        self.certificates = certificates
        self.serverTLS = serverTLS
        self.xForwardedFor = xForwardedFor
        self.xForwardedProto = xForwardedProto
        self.forwarded = forwarded
        self.maxHeaderBytes = maxHeaderBytes
        self.timeouts = timeouts
        self.serverPoolSize = serverPoolSize
    }
}

/// Cookie-insert persistence (HAProxy `cookie ... insert`): the relay sets a cookie that
/// names the chosen server by an opaque, signed value.
public struct CookiePersistence: Hashable, Sendable {
    /// The cookie's SameSite attribute.
    public enum SameSite: String, Hashable, Sendable, CaseIterable {
        case strict = "Strict"
        case lax = "Lax"
        case unrestricted = "None"
    }

    /// Cookie name.
    public var name: String
    /// Secret the value is signed with (HMAC-SHA256); changing it makes every cookie stale.
    public var key: String
    /// Send the cookie over HTTPS only.
    public var secure: Bool
    /// Hide the cookie from scripts.
    public var httpOnly: Bool
    /// SameSite attribute; none sent when nil.
    public var sameSite: SameSite?
    /// Path attribute.
    public var path: String

    /// Whether `name` can be a cookie name (an RFC 9110 token).
    public static func isValidName(_ name: String) -> Bool {
        !name.isEmpty
            && name.utf8.allSatisfy { byte in
                byte > 0x20 && byte < 0x7F && !Array("()<>@,;:\\\"/[]?={}".utf8).contains(byte)
            }
    }

    /// Cookie persistence with the given key and defaults for the rest.
    public init(
        name: String = "BALLAST", key: String, secure: Bool = false, httpOnly: Bool = true, sameSite: SameSite? = .lax,
        path: String = "/"
    ) {
        self.name = name
        self.key = key
        self.secure = secure
        self.httpOnly = httpOnly
        self.sameSite = sameSite
        self.path = path
    }
}
