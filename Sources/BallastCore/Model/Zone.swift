/// A DNS zone Ballast answers for with authority. Some of its records are bound to pools,
/// so that answers follow the servers' health.
public struct Zone: Hashable, Sendable {
    /// The zone's SOA fields. The serial Ballast serves starts at the operator's and moves on
    /// at every change of an answer (see `ZoneSerial`).
    public struct SOA: Hashable, Sendable {
        /// Primary name server.
        public var primary: DomainName
        /// Mailbox of the zone's administrator, as a name (`hostmaster.contoso.com`).
        public var mailbox: DomainName
        /// The operator's serial (`2026112101` or a counter), the floor of those served; nil:
        /// Ballast's own, from the clock.
        public var serial: UInt32?
        public var refresh: UInt32
        public var retry: UInt32
        public var expire: UInt32
        /// TTL of negative answers (RFC 2308).
        public var minimum: UInt32

        /// SOA fields with common defaults.
        public init(
            primary: DomainName, mailbox: DomainName, serial: UInt32? = nil, refresh: UInt32 = 3600,
            retry: UInt32 = 600,
            expire: UInt32 = 604_800, minimum: UInt32 = 60
        ) {
            self.primary = primary
            self.mailbox = mailbox
            self.serial = serial
            self.refresh = refresh
            self.retry = retry
            self.expire = expire
            self.minimum = minimum
        }
    }

    /// What to answer for a pool whose servers are all down.
    public enum AllDownPolicy: String, Hashable, Sendable, CaseIterable {
        /// Every server of the pool: clients try them anyway, as most DNS balancers do.
        case all
        /// No address: the name answers NODATA.
        case none
    }

    /// The zone's apex.
    public var name: DomainName
    /// SOA settings.
    public var soa: SOA
    /// TTL of records that name none.
    public var ttl: UInt32
    /// Records, static and pool-bound, in config order.
    public var records: [ZoneRecord]
    /// Pool-bound answers when every server of the pool is down.
    public var allDown: AllDownPolicy
    /// Secondary servers: sent NOTIFY on every change and allowed to transfer the zone.
    public var secondaries: [Endpoint]

    /// A zone from its parts.
    public init(
        name: DomainName, soa: SOA, ttl: UInt32 = 300, records: [ZoneRecord] = [], allDown: AllDownPolicy = .all,
        secondaries: [Endpoint] = []
    ) {
        self.name = name
        self.soa = soa
        self.ttl = ttl
        self.records = records
        self.allDown = allDown
        self.secondaries = secondaries
    }
}

/// One record of a zone as the config states it.
public struct ZoneRecord: Hashable, Sendable {
    /// What the record holds.
    public enum Value: Hashable, Sendable {
        case a(IPAddress)
        case aaaa(IPAddress)
        case ns(DomainName)
        case cname(DomainName)
        case mx(preference: UInt16, exchange: DomainName)
        case txt([[UInt8]])
        /// SRV; when `pool` is set the record is left out while that pool has no server up.
        case srv(priority: UInt16, weight: UInt16, port: UInt16, target: DomainName, pool: String?)
        /// The addresses of a pool's servers in rotation (A for IPv4, AAAA for IPv6).
        case pool(String)
    }

    /// Owner name, absolute.
    public var name: DomainName
    /// TTL in seconds.
    public var ttl: UInt32
    /// The data.
    public var value: Value

    /// A record.
    public init(name: DomainName, ttl: UInt32, value: Value) {
        self.name = name
        self.ttl = ttl
        self.value = value
    }
}
