import BallastCore

/// A pool of the `pools` section.
enum PoolKeys {
    static let site = Key.name("site", default: "none", "a site from `sites`")
    static let backupPool = Key.name(
        "backup-pool", default: "none", "the pool that takes over this pool's users (used by later features)")
    static let check = Key.node(
        "check", expected: "a check name, or an inline check mapping", default: "none",
        "a check name or an inline check; servers are always up without one")
    static let servers = Key.node("servers", expected: "a list of servers", default: "required", "a list of servers")

    /// The section these keys make up.
    static let section = ConfigSection(
        "pools.NAME", form: "a pool mapping",
        keys: [site.declaration, backupPool.declaration, check.declaration, servers.declaration])
}

/// A server of a pool, when written as a mapping.
enum ServerKeys {
    static let name = Key.name("name", default: "its address", "unique in the pool; `ballast drain POOL/NAME` uses it")
    static let address = Key.node(
        "address", expected: "an IPv4 or IPv6 address", default: "required", "IPv4 or IPv6 literal, optionally `:PORT`")
    static let port = Key.number("port", 1...65535, default: "the relay's port", "where relays connect")
    static let weight = Key.number("weight", Server.weightRange, default: "`1`", "1 to 256")
    static let backup = Key.flag(
        "backup", default: "`false`", "takes traffic only when no primary server is in rotation")
    static let check = Key.node(
        "check", expected: "none (the server is never probed and always in rotation); the pool names its check",
        default: "the pool's",
        "`none`: the server is never probed and always in rotation. With `backup: true` it is a static fallback, as gdnsd's multifo fallback: an address (a sorry page, another provider) given out only when every checked server is down; a pool used only by DNS records then needs no port for it"
    )
    static let site = Key.name(
        "site", default: "the pool's `site`",
        "where this server is, for a pool that spans sites (a web farm, the mail relay's servers): a fenced site's servers leave relays and DNS answers, and a failover plan activates mailbox copies away from them"
    )

    /// The section these keys make up.
    static let section = ConfigSection(
        "pools.NAME.servers[N]", form: "a server mapping",
        keys: [
            name.declaration, address.declaration, port.declaration, weight.declaration, backup.declaration,
            check.declaration, site.declaration,
        ])
}
