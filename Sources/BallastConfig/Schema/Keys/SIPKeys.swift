import BallastCore

/// The `sip` section: registrars, the director, digest and failover settings.
enum SIPKeys {
    static let realm = Key.text(
        "realm", expected: "the digest realm, such as lab.example", default: "required",
        "digest realm; the users file's HA1 values are computed with it")
    static let usersFile = Key.text(
        "users-file", expected: "a path to a users YAML file", default: "none",
        "users (until the store holds them), see below")
    static let registrationsFile = Key.text(
        "registrations-file", expected: "a path where bindings are kept", default: "none (bindings in memory)",
        "bindings are written here before the 200 goes out and read back at start, so they survive a restart. One thread writes it with group commit: the changes of every REGISTER that arrived while the last batch was written go out in one write and one `fdatasync` (at most one a millisecond under load; a REGISTER after a quiet spell is written at once), and their 200s leave once it returns. Lines go over zeros written 4 MiB ahead, as a database's write-ahead log does, so that a sync flushes data alone: the file is at least 4 MiB. Compacted at start and, on the same thread, when it grows past twice what is live. Readable by Ballast's user only. Its thread is `ballast-journal` in `top -H`; `/metrics` shows each batch's changes (`ballast_sip_journal_batch_changes`), its write and sync (`ballast_sip_journal_sync_seconds`) and how long its oldest REGISTER waited for its 200 (`ballast_sip_journal_wait_seconds`)"
    )
    static let registrars = Key.node(
        "registrars", expected: "a mapping of pool names to registrars", default: "required",
        "`POOL: {listen: [TRANSPORT://ADDRESS:PORT, ...], contact: URI}`: Ballast is the registrar of that pool on those addresses (`udp`, `tcp`, `tls`); `contact` is the URI a 301 names for it (default: the first listen address). A registrar with only `contact` is one Ballast redirects to but does not serve"
    )
    static let director = Key.node(
        "director", expected: "{listen: [...]}", default: "none",
        "`{listen: [...]}`: addresses that authenticate and redirect every user home")
    static let certificates = Key.node(
        "certificates", expected: "a list of {certificate: FILE, key: FILE}",
        default: "required with a `tls://` listener",
        "`[{certificate: FILE, key: FILE}]`, PEM; chosen by the name the client sends (SNI, exact then `*.` wildcard), else the first"
    )
    static let failureDetection = Key.duration(
        "failure-detection", minimum: .zero, default: "`1s`",
        "how long a pool must have no server up (per its checks, after their `fall`) before its backup registrar accepts its users"
    )
    static let fallback = Key.duration(
        "fallback", minimum: .zero, default: "`30s`",
        "how long a lost pool must have been up without a break before its users are redirected home")
    static let nonceLifetime = Key.duration(
        "nonce-lifetime", minimum: .seconds(1), default: "`5m`",
        "a nonce older than this is answered with a new challenge, `stale=true`")
    static let algorithms = Key.node(
        "algorithms", expected: "a list of MD5 and SHA-256, most preferred first", default: "`[MD5]`",
        "digest challenges offered, one `WWW-Authenticate` each, in this order (RFC 8760). MD5 alone by default, as Kamailio: some clients give up at a challenge they cannot answer instead of taking another (baresip 1.0 stops at SHA-256); add `SHA-256` once every client follows RFC 8760"
    )
    static let expires = Key.node(
        "expires", expected: "{min, max, default}", default: "`{min: 60, max: 7200, default: 3600}`",
        "seconds: shorter is refused with `423` and `Min-Expires`, longer is cut down, none asked gets the default")
    static let maxContacts = Key.number(
        "max-contacts", 1...1000, default: "`10`", "bindings per user; more is refused with `403`")
    static let handshakeTimeout = Key.duration(
        "handshake-timeout", minimum: .milliseconds(100), default: "`5s`",
        "for a TLS client's handshake to complete; the connection is closed after")
    static let messageTimeout = Key.duration(
        "message-timeout", minimum: .milliseconds(100), default: "`10s`",
        "TCP and TLS: for the first message to be whole after the connection (or its TLS handshake), and each later one once its first byte came; the connection is closed after (between messages a connection may idle for 2 hours, as phones behind NAT keep theirs)"
    )
    static let maxConnections = Key.number(
        "max-connections", 1...1_000_000, default: "`10000`",
        "TCP and TLS connections open at once per listen address (1 to 1,000,000); further phones wait in the listen backlog, as a relay's clients do at its `max-connections`; a reload changes it without closing a connection"
    )

    /// The section these keys make up.
    static let section = ConfigSection(
        "sip", form: "a mapping of SIP settings",
        keys: [
            realm.declaration, usersFile.declaration, registrationsFile.declaration, registrars.declaration,
            director.declaration, certificates.declaration, failureDetection.declaration, fallback.declaration,
            nonceLifetime.declaration, algorithms.declaration, expires.declaration, maxContacts.declaration,
            handshakeTimeout.declaration, messageTimeout.declaration, maxConnections.declaration,
        ])
}

/// A registrar of `sip.registrars`.
enum SIPRegistrarKeys {
    static let listen = Key.node(
        "listen", expected: TopologyBuilder.sipListenForm, default: "none",
        "`TRANSPORT://ADDRESS:PORT` or a list of them (`udp`, `tcp`, `tls`) where Ballast is this pool's registrar")
    static let contact = Key.node(
        "contact", expected: "a SIP URI such as sip:pool01.example.com:5061;transport=tls",
        default: "the first listen address",
        "the URI a 301 names for this registrar; required for a registrar Ballast does not serve")

    /// The section these keys make up.
    static let section = ConfigSection(
        "sip.registrars.POOL", form: "{listen: [TRANSPORT://ADDRESS:PORT], contact: URI}",
        keys: [listen.declaration, contact.declaration])
}

/// The SIP director.
enum SIPDirectorKeys {
    static let listen = Key.node(
        "listen", expected: TopologyBuilder.sipListenForm, default: "none",
        "`TRANSPORT://ADDRESS:PORT` or a list of them where Ballast authenticates and redirects every user home")

    /// The section these keys make up.
    static let section = ConfigSection("sip.director", form: "{listen: [...]}", keys: [listen.declaration])
}

/// `sip.expires`.
enum SIPExpiresKeys {
    static let min = Key.number(
        "min", 1...(7 * 86400), default: "`60`", "seconds; shorter is refused with `423` and `Min-Expires`")
    static let max = Key.number("max", 1...(7 * 86400), default: "`7200`", "seconds; longer is cut down")
    static let defaultSeconds = Key.number(
        "default", 1...(7 * 86400), default: "`3600`", "seconds, when the REGISTER asks none")

    /// The section these keys make up.
    static let section = ConfigSection(
        "sip.expires", form: "{min, max, default}",
        keys: [min.declaration, max.declaration, defaultSeconds.declaration])
}
