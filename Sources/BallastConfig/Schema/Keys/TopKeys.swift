/// The sections of a config file.
enum TopKeys {
    static let node = Key.node("node", expected: "a mapping", default: "none", "how this node stops")
    static let admin = Key.node(
        "admin", expected: "a mapping", default: "none", "the admin API, the dashboard and `/metrics`")
    static let sites = Key.node(
        "sites", expected: "a mapping of site names, or a list of names", default: "none",
        "the data centres pools and servers sit in")
    static let checks = Key.node(
        "checks", expected: "a mapping of check names to checks", default: "none", "named health checks")
    static let pools = Key.node(
        "pools", expected: "a mapping of pool names to pools", default: "none", "servers, and how they are checked")
    static let relays = Key.node(
        "relays", expected: "a mapping of relay names to relays", default: "none",
        "listeners that forward to a pool: TCP, HTTP, HTTPS, IMAP and POP3")
    static let dns = Key.node(
        "dns", expected: "a mapping with listen", default: "none", "where Ballast answers DNS queries")
    static let zones = Key.node(
        "zones", expected: "a mapping of zone names to zones", default: "none",
        "the zones Ballast answers for, with records bound to pools")
    static let sip = Key.node(
        "sip", expected: "a mapping of SIP settings", default: "none", "the SIP registrars and director")
    static let store = Key.node(
        "store", expected: "a mapping of store settings", default: "none",
        "the directory of users and mailbox databases")
    static let backup = Key.node(
        "backup", expected: "a mapping of backup settings", default: "none", "backups of the directory")
    static let witness = Key.node(
        "witness", expected: "a mapping of witness settings", default: "none",
        "the third location automatic site failover asks")

    /// The section these keys make up.
    static let section = ConfigSection(
        "", id: "sections", form: "a mapping of sections",
        keys: [
            node.declaration, admin.declaration, sites.declaration, checks.declaration, pools.declaration,
            relays.declaration, dns.declaration, zones.declaration, sip.declaration, store.declaration,
            backup.declaration, witness.declaration,
        ])
}
