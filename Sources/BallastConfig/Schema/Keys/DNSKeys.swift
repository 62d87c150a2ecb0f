import BallastCore

/// The `dns` section: where Ballast answers DNS queries.
enum DNSKeys {
    static let listen = Key.node(
        "listen", expected: "ADDRESS:PORT, or a list of them", default: "required with zones",
        "`ADDRESS:PORT` or a list of them; UDP and TCP on each")
    static let udpSockets = Key.number(
        "udp-sockets", 1...256, default: "1",
        "UDP sockets bound on each listen address (SO_REUSEPORT when more than one). Every engine thread reads every socket, in batches of up to 32 datagrams (recvmmsg, answers by sendmmsg): the kernel wakes one thread per burst and another while that one is busy, so one socket already spreads one busy client over every core. More sockets spread clients by their address and port, which the kernel does without a shared queue"
    )
    static let rateLimit = Key.node(
        "rate-limit", expected: TopologyBuilder.rateLimitForm,
        default:
            "on: `{responses-per-second: 20, slip: 2, ipv4-prefix: 24, ipv6-prefix: 56, exempt: [127.0.0.0/8, ::1/128]}`",
        "response rate limiting over UDP (RRL, as BIND, NSD and Knot): answers of one kind (the same name and type; NXDOMAIN and errors per prefix alone) to one client prefix beyond this many per second are dropped, one in `slip` sent truncated so that a real resolver retries over TCP. Keeps Ballast from amplifying floods of queries sent in a victim's name. `off` turns it off; loopback is exempt since no spoofed query comes from it. Counted in `ballast_dns_rate_limited_total`"
    )
    static let tcpTimeout = Key.duration(
        "tcp-timeout", minimum: .milliseconds(100), default: "`10s`",
        "TCP: for a query to be whole once its first byte came, and for the next query to begin")
    static let maxTCPConnections = Key.number(
        "max-tcp-connections", 1...1_000_000, default: "`1024`",
        "TCP connections open at once per listen address (1 to 1,000,000); further clients wait in the listen backlog, as a relay's do at its `max-connections` (NSD's `tcp-count` is 100)"
    )

    /// The section these keys make up.
    static let section = ConfigSection(
        "dns", form: "a mapping with listen", rowPrefix: "dns.",
        keys: [
            listen.declaration, udpSockets.declaration, rateLimit.declaration, tcpTimeout.declaration,
            maxTCPConnections.declaration,
        ])
}

/// `dns.rate-limit` written as a mapping.
enum RateLimitKeys {
    static let responsesPerSecond = Key.number(
        "responses-per-second", 1...1_000_000, default: "`20`",
        "answers of one kind to one client prefix each second before the rest are dropped")
    static let slip = Key.number(
        "slip", 0...10, default: "`2`",
        "one in this many dropped answers goes out truncated, so that a real resolver retries over TCP; `0` drops them all"
    )
    static let ipv4Prefix = Key.number(
        "ipv4-prefix", 8...32, default: "`24`", "the IPv4 prefix length clients are counted by")
    static let ipv6Prefix = Key.number(
        "ipv6-prefix", 16...128, default: "`56`", "the IPv6 prefix length clients are counted by")
    static let exempt = Key.node(
        "exempt", expected: "a list of prefixes such as 10.0.0.0/8", default: "`[127.0.0.0/8, ::1/128]`",
        "clients never limited")

    /// The section these keys make up.
    static let section = ConfigSection(
        "dns.rate-limit", form: "off, or a mapping", rowPrefix: "dns.rate-limit.",
        keys: [
            responsesPerSecond.declaration, slip.declaration, ipv4Prefix.declaration, ipv6Prefix.declaration,
            exempt.declaration,
        ])
}

/// A zone of the `zones` section.
enum ZoneKeys {
    static let ttl = Key.node(
        "ttl", expected: "a duration such as 30s or 5m, or a number of seconds", default: "`300`",
        "TTL of records that give none (a duration: `30s`, `5m`)")
    static let soa = Key.node(
        "soa", expected: "a mapping", default: "`{primary: ns1, mailbox: hostmaster}`",
        "`primary`, `mailbox`, `serial`, `refresh` (1h), `retry` (10m), `expire` (1w), `minimum` (60s, the TTL of negative answers). Ballast serves `serial` until an answer first changes, then a serial newer in RFC 1982 terms at every change, so secondaries holding the operator's serial still transfer; after a change it follows a clock too (a date-style `YYYYMMDDnn` serial plus the seconds since that date, else Unix time), so a restarted node soon serves serials past those it served before. Without `serial`, Unix time"
    )
    static let whenAllDown = Key.choice(
        "when-all-down", of: Zone.AllDownPolicy.self, default: "`all`",
        "what a pool-bound record answers when every server of the pool is down: `all` its servers, or `none` (NODATA)")
    static let secondaries = Key.node(
        "secondaries", expected: "a list of ADDRESS:PORT", default: "none",
        "`ADDRESS:PORT` list: sent NOTIFY on every change of the zone and allowed AXFR (and IXFR, answered in full) from their addresses"
    )
    static let records = Key.node("records", expected: "a list of records", default: "none", "a list of records")

    /// The section these keys make up.
    static let section = ConfigSection(
        "zones.NAME", form: "a zone mapping",
        keys: [ttl.declaration, soa.declaration, whenAllDown.declaration, secondaries.declaration, records.declaration])
}

/// A zone's `soa`.
enum SOAKeys {
    static let primary = Key.node(
        "primary", expected: "a DNS name", default: "`ns1`",
        "the primary name server (relative to the zone unless it ends with a dot)")
    static let mailbox = Key.node(
        "mailbox", expected: "a DNS name", default: "`hostmaster`",
        "the zone's contact, as a name (`hostmaster` is hostmaster@ the zone)")
    static let serial = Key.node(
        "serial", expected: "a whole number from 0 to 4294967295, such as 2026112101", default: "Unix time",
        "served until an answer first changes; later serials are newer in RFC 1982 terms")
    static let refresh = Key.node(
        "refresh", expected: "a duration or a number of seconds", default: "`1h`",
        "how often secondaries check the serial")
    static let retry = Key.node(
        "retry", expected: "a duration or a number of seconds", default: "`10m`",
        "how soon a secondary retries a failed check")
    static let expire = Key.node(
        "expire", expected: "a duration or a number of seconds", default: "`1w`",
        "how long a secondary serves without reaching the primary")
    static let minimum = Key.node(
        "minimum", expected: "a duration or a number of seconds", default: "`60s`", "the TTL of negative answers")

    /// The section these keys make up.
    static let section = ConfigSection(
        "zones.NAME.soa", form: "a mapping",
        keys: [
            primary.declaration, mailbox.declaration, serial.declaration, refresh.declaration, retry.declaration,
            expire.declaration, minimum.declaration,
        ])
}

/// A record of a zone.
enum RecordKeys {
    static let name = Key.node(
        "name", expected: "a DNS name, or @", default: "required",
        "relative to the zone unless it ends with a dot; `@` is the zone itself")
    static let type = Key.node(
        "type", expected: "one of A, AAAA, NS, CNAME, MX, TXT, SRV", default: "required",
        "`A`, `AAAA`, `NS`, `CNAME`, `MX`, `TXT` or `SRV`")
    static let ttl = Key.node(
        "ttl", expected: "a duration such as 30s or 5m, or a number of seconds", default: "the zone's `ttl`",
        "the record's TTL")
    static let value = Key.node(
        "value", expected: "an address, a name or text, by type", default: "none",
        "the address, name or text, by type (table below)")
    static let pool = Key.node(
        "pool", expected: "a pool name", default: "none",
        "A, AAAA: the addresses of the pool's servers in rotation; SRV: left out while the pool has no server up")
    static let priority = Key.node(
        "priority", expected: "a whole number from 0 to 65535", default: "required for SRV", "SRV priority")
    static let weight = Key.node(
        "weight", expected: "a whole number from 0 to 65535", default: "required for SRV", "SRV weight")
    static let port = Key.node(
        "port", expected: "a whole number from 0 to 65535", default: "required for SRV", "SRV port")
    static let target = Key.node("target", expected: "a DNS name", default: "required for SRV", "SRV target")
    static let preference = Key.node(
        "preference", expected: "a whole number from 0 to 65535", default: "`10`", "MX preference")

    /// The section these keys make up.
    static let section = ConfigSection(
        "zones.NAME.records[N]", form: "a record mapping",
        keys: [
            name.declaration, type.declaration, ttl.declaration, value.declaration, pool.declaration,
            priority.declaration, weight.declaration, port.declaration, target.declaration, preference.declaration,
        ])
}
