import BallastCore

/// The `node` section: how this node stops.
enum NodeKeys {
    static let shutdownGrace = Key.duration(
        "shutdown-grace", default: "`30s`", "how long SIGTERM lets open connections finish before closing them")

    /// The section these keys make up.
    static let section = ConfigSection("node", form: "a mapping", keys: [shutdownGrace.declaration])
}

/// The `admin` section: the admin API and metrics listener.
enum AdminKeys {
    static let listen = Key.endpoint("listen", default: "required", "`ADDRESS:PORT` of the admin API and `/metrics`")
    static let token = Key.text(
        "token", expected: "a secret string", default: "none; required unless `listen` is a loopback address",
        "bearer token required by every route but `/`, `/metrics` and `/healthz`")

    /// The section these keys make up.
    static let section = ConfigSection("admin", form: "a mapping", keys: [listen.declaration, token.declaration])
}

/// A site of the `sites` section.
enum SiteKeys {
    static let holdDown = Key.duration(
        "hold-down", minimum: .zero, default: "`10m`",
        "a failover or failback plan changes the site's fence at most once per this period, unless applied with `--force`"
    )

    /// The section these keys make up.
    static let section = ConfigSection("sites.NAME", form: "{} or {hold-down: 10m}", keys: [holdDown.declaration])
}

/// The `witness` section: the third location that automatic site failover asks.
enum WitnessKeys {
    static let listen = Key.endpoint(
        "listen", default: "required", "the witness's `ADDRESS:PORT` (`ballast witness --listen`), at a third location")
    static let automaticAfter = Key.duration(
        "automatic-after", minimum: .seconds(1), default: "`60s`",
        "how long every pool of a site must have been unavailable, while another site serves, before the node asks the witness and, if the witness cannot reach the site either, applies a failover plan"
    )

    /// The section these keys make up.
    static let section = ConfigSection(
        "witness", form: "a mapping of witness settings", keys: [listen.declaration, automaticAfter.declaration])
}

/// The `backup` section.
enum BackupKeys {
    static let folder = Key.text(
        "folder", expected: "a folder path", default: "required",
        "where backup files go (at the DR site: a mount or a synced folder); restores and plans take the newest from here"
    )
    static let every = Key.duration(
        "every", minimum: .seconds(1), default: "none", "a node with the store takes a backup this often (`1h`, say)")
    static let keep = Key.number(
        "keep", 1...100_000, default: "`48`", "the newest files kept; older ones are removed after each new one")

    /// The section these keys make up.
    static let section = ConfigSection(
        "backup", form: "a mapping of backup settings", keys: [folder.declaration, every.declaration, keep.declaration])
}

/// The `store` section: where the directory lives.
enum StoreKeys {
    static let location = Key.text(
        "location", expected: TopologyBuilder.storeLocationForm, default: "required",
        "a SQLite file (one file, WAL; relative paths start at the config's folder), or `postgres://USER:PASSWORD@HOST:PORT/DATABASE` for several nodes"
    )
    static let standby = Key.node(
        "standby", expected: TopologyBuilder.standbyForm, default: "none",
        "PostgreSQL only: the URL of a streaming hot standby at another site (made with `pg_basebackup -R`), or a list of them"
    )
    static let realm = Key.text(
        "realm", expected: "the digest realm, such as contoso.com", default: "`sip.realm`",
        "the realm HA1 values are computed in; must equal `sip.realm` when both are set")
    static let pollInterval = Key.duration(
        "poll-interval", minimum: .milliseconds(50), default: "`500ms`",
        "how often a node reads the store's revision; PostgreSQL also notifies every write (`LISTEN ballast_directory`), polling covers a standby that refuses LISTEN"
    )
    static let cacheFile = Key.text(
        "cache-file", expected: "a path for the last applied directory",
        default: "the SQLite path + `.last-state.json`",
        "where a node keeps the last directory it applied (mode 0600: it holds HA1 values)")
    static let failureDelay = Key.duration(
        "failure-delay", minimum: .zero, default: "`500ms`",
        "how long a refused mail or web login waits before its answer")

    /// The section these keys make up.
    static let section = ConfigSection(
        "store", form: "a mapping of store settings",
        keys: [
            location.declaration, standby.declaration, realm.declaration, pollInterval.declaration,
            cacheFile.declaration, failureDelay.declaration,
        ])
}
