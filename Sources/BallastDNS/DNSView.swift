public import BallastCodecs
public import BallastCore

/// The zones as one published state has them: every answer precomputed, pool-bound records
/// resolved against health, each zone with its serial. Built once per state, read by every query.
public struct DNSView: Sendable {
    /// The state version this view was built from.
    public let version: UInt64
    /// Zones, deepest apex first, so that the first match is the longest.
    public let zones: [ZoneView]

    /// A view of `state`'s zones; serials move on from `previous` where an answer changed.
    public init(state: State, previous: DNSView?, now: UInt32) {
        version = state.version
        zones = state.topology.zones.map { zone in
            let old = previous?.zones.first { $0.zone.name == zone.name }
            return ZoneView(zone: zone, state: state, previous: old, now: now)
        }.sorted { $0.zone.name.labels.count > $1.zone.name.labels.count }
    }

    /// The zone that holds `name`, if any.
    public func zone(for name: DomainName) -> ZoneView? { zones.first { name.isSubdomain(of: $0.zone.name) } }
}

/// The records of one name and type.
public struct RRSet: Hashable, Sendable {
    public var ttl: UInt32
    public var data: [DNSRecordData]
    /// Whether the order turns with every answer (pool-bound address sets).
    public var rotates: Bool
}

/// One zone's answers for one state.
public struct ZoneView: Sendable {
    public let zone: Zone
    public let serial: UInt32
    /// RRsets by folded owner name and type.
    public let nodes: [DomainName: [UInt16: RRSet]]
    /// Names that exist without records of their own (empty non-terminals).
    let interior: Set<DomainName>
    /// The RRsets without the SOA: what a change of serial is decided on.
    let content: [DomainName: [UInt16: RRSet]]

    init(zone: Zone, state: State, previous: ZoneView?, now: UInt32) {
        self.zone = zone
        var nodes: [DomainName: [UInt16: RRSet]] = [:]
        func add(_ name: DomainName, _ type: UInt16, _ ttl: UInt32, _ data: [DNSRecordData], rotates: Bool = false) {
            var set = nodes[name.folded, default: [:]][type] ?? RRSet(ttl: ttl, data: [], rotates: rotates)
            set.ttl = min(set.ttl, ttl)
            for item in data where !set.data.contains(item) { set.data.append(item) }
            set.rotates = set.rotates || rotates
            nodes[name.folded, default: [:]][type] = set
        }
        var srvByName: [DomainName: [(record: ZoneRecord, up: Bool)]] = [:]
        for record in zone.records {
            switch record.value {
            case .a(let address): add(record.name, DNSType.a, record.ttl, [.a(address)])
            case .aaaa(let address): add(record.name, DNSType.aaaa, record.ttl, [.aaaa(address)])
            case .ns(let target): add(record.name, DNSType.ns, record.ttl, [.ns(target)])
            case .cname(let target): add(record.name, DNSType.cname, record.ttl, [.cname(target)])
            case .mx(let preference, let exchange):
                add(record.name, DNSType.mx, record.ttl, [.mx(preference: preference, exchange: exchange)])
            case .txt(let strings): add(record.name, DNSType.txt, record.ttl, [.txt(strings)])
            case .srv(_, _, _, _, let pool):
                // A fenced site's pools leave the answers, even when every other pool is down too.
                if let pool, state.isFenced(pool: pool) { continue }
                let up = pool.map { !(state.pools[$0]?.isUnavailable ?? true) } ?? true
                srvByName[record.name.folded, default: []].append((record, up))
            case .pool(let name):
                let addresses = Self.addresses(of: name, state: state, policy: zone.allDown)
                let v4 = addresses.filter { $0.family == .v4 }.map { DNSRecordData.a($0) }
                let v6 = addresses.filter { $0.family != .v4 }.map { DNSRecordData.aaaa($0) }
                if !v4.isEmpty { add(record.name, DNSType.a, record.ttl, v4, rotates: true) }
                if !v6.isEmpty { add(record.name, DNSType.aaaa, record.ttl, v6, rotates: true) }
                if v4.isEmpty && v6.isEmpty && nodes[record.name.folded] == nil { nodes[record.name.folded] = [:] }
            }
        }
        for (name, entries) in srvByName {
            // SRV records of pools that are down drop out; if that would leave none, the policy decides.
            let chosen = entries.contains { $0.up } ? entries.filter { $0.up } : (zone.allDown == .all ? entries : [])
            for (record, _) in chosen {
                guard case .srv(let priority, let weight, let port, let target, _) = record.value else { continue }
                add(
                    name, DNSType.srv, record.ttl,
                    [.srv(priority: priority, weight: weight, port: port, target: target)])
            }
            if chosen.isEmpty && nodes[name] == nil { nodes[name] = [:] }
        }
        if nodes[zone.name.folded]?[DNSType.ns] == nil {
            add(zone.name, DNSType.ns, zone.ttl, [.ns(zone.soa.primary)])
        }
        var serial = previous?.serial ?? ZoneSerial.initial(configured: zone.soa.serial, now: now)
        if let previous, previous.zone != zone || previous.content != nodes {
            serial = ZoneSerial.next(after: previous.serial, configured: zone.soa.serial, now: now)
        }
        self.serial = serial
        self.content = nodes
        let soa = zone.soa
        add(
            zone.name, DNSType.soa, zone.ttl,
            [
                .soa(
                    primary: soa.primary, mailbox: soa.mailbox, serial: serial, refresh: soa.refresh, retry: soa.retry,
                    expire: soa.expire, minimum: soa.minimum)
            ])
        self.nodes = nodes
        var interior = Set<DomainName>()
        for name in nodes.keys {
            var parent = name.parent
            while let current = parent, current.isSubdomain(of: zone.name), current != zone.name {
                interior.insert(current)
                parent = current.parent
            }
        }
        self.interior = interior
    }

    /// A pool's addresses for DNS: servers in rotation (primaries, else backups), else per `policy`.
    static func addresses(of pool: String, state: State, policy: Zone.AllDownPolicy) -> [IPAddress] {
        guard let view = state.pools[pool], !state.isFenced(pool: pool) else { return [] }
        let tier = view.activeTier.members.map(\.server.address)
        if !tier.isEmpty { return tier }
        return policy == .all ? view.pool.servers.filter { !state.isFenced($0, in: view.pool) }.map(\.address) : []
    }

    /// The SOA record, for negative answers and transfers.
    public var soaRecord: DNSRecord {
        DNSRecord(name: zone.name, ttl: zone.ttl, data: nodes[zone.name.folded]![DNSType.soa]!.data[0])
    }

    /// Whether `name` exists in the zone (with records or below it).
    func exists(_ name: DomainName) -> Bool { nodes[name] != nil || interior.contains(name) }

    /// Every record, for AXFR: SOA first, then the rest by name and type.
    public var allRecords: [DNSRecord] {
        var records: [DNSRecord] = []
        for name in nodes.keys.sorted(by: { $0.description < $1.description }) {
            for (type, set) in nodes[name]!.sorted(by: { $0.key < $1.key }) where type != DNSType.soa {
                records += set.data.map { DNSRecord(name: name, ttl: set.ttl, data: $0) }
            }
        }
        return [soaRecord] + records
    }
}
