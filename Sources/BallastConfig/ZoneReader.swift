import BallastCore
import Yams

/// The `dns` and `zones` sections.
extension TopologyBuilder {
    static let rateLimitForm =
        "off, or {responses-per-second: 20, slip: 2, ipv4-prefix: 24, ipv6-prefix: 56, exempt: [127.0.0.0/8]}"
    static let recordTypes = ["A", "AAAA", "NS", "CNAME", "MX", "TXT", "SRV"]

    /// The `dns` section: listen addresses, UDP sockets on each, the response rate limit (on
    /// with defaults unless set) and the TCP timeout.
    mutating func readDNS(_ node: YAMLNode) -> DNSSettings {
        var settings = DNSSettings()
        guard var fields = reader.fields(node, key: "dns", section: DNSKeys.section) else { return settings }
        if fields.has(DNSKeys.udpSockets) { settings.udpSockets = reader.read(DNSKeys.udpSockets, in: &fields) }
        if let node = fields[DNSKeys.rateLimit] { settings.rateLimit = readRateLimit(node) }
        if let value = reader.read(DNSKeys.tcpTimeout, in: &fields) { settings.tcpTimeout = value }
        if let value = reader.read(DNSKeys.maxTCPConnections, in: &fields) { settings.maxTCPConnections = value }
        if let node = fields[DNSKeys.listen] {
            let items: [YAMLNode]
            if case .sequence(let sequence) = node { items = Array(sequence) } else { items = [node] }
            for (index, item) in items.enumerated() {
                if let endpoint = reader.endpoint(item, key: "dns.listen[\(index)]") {
                    settings.listeners.append(endpoint)
                }
            }
        }
        return settings
    }

    /// `dns.rate-limit`: `off`, or a mapping whose missing keys keep their defaults.
    private mutating func readRateLimit(_ node: YAMLNode) -> DNSRateLimit? {
        if case .scalar(let scalar) = node {
            guard ["off", "false", "no"].contains(scalar.string.lowercased()) else {
                reader.fail(
                    .invalidValue, at: node, key: "dns.rate-limit", "is \(reader.describe(node))",
                    expected: Self.rateLimitForm)
                return DNSRateLimit()
            }
            return nil
        }
        var limit = DNSRateLimit()
        guard
            var fields = reader.fields(
                node, key: "dns.rate-limit", section: RateLimitKeys.section, form: Self.rateLimitForm)
        else { return limit }
        if let value = reader.read(RateLimitKeys.responsesPerSecond, in: &fields) { limit.responsesPerSecond = value }
        if let value = reader.read(RateLimitKeys.slip, in: &fields) { limit.slip = value }
        if let value = reader.read(RateLimitKeys.ipv4Prefix, in: &fields) { limit.ipv4PrefixLength = value }
        if let value = reader.read(RateLimitKeys.ipv6Prefix, in: &fields) { limit.ipv6PrefixLength = value }
        if let node = fields[RateLimitKeys.exempt] {
            limit.exempt = readPrefixes(node, key: fields.path(RateLimitKeys.exempt))
        }
        return limit
    }

    /// A list of `ADDRESS/LENGTH` prefixes (or addresses); an empty list is allowed.
    mutating func readPrefixes(_ node: YAMLNode, key: String) -> [IPPrefix] {
        let items: [YAMLNode]
        if case .sequence(let sequence) = node { items = Array(sequence) } else { items = [node] }
        var prefixes: [IPPrefix] = []
        for (index, item) in items.enumerated() {
            guard case .scalar(let scalar) = item, let prefix = IPPrefix(scalar.string) else {
                reader.fail(
                    .invalidValue, at: item, key: "\(key)[\(index)]", "is \(reader.describe(item))",
                    expected: "an address prefix such as 192.0.2.0/24 or 2001:db8::/32")
                continue
            }
            prefixes.append(prefix)
        }
        return prefixes
    }

    mutating func readZones(_ node: YAMLNode, pools: [Pool]) -> [Zone] {
        var zones: [Zone] = []
        for entry in reader.mapping(node, key: "zones", what: "a mapping of zone names to zones") ?? [] {
            guard let name = DomainName(entry.key), !name.labels.isEmpty else {
                reader.fail(
                    .invalidValue, at: entry.keyNode, key: "zones.\(entry.key)", "is not a DNS name",
                    expected: "a zone name such as contoso.com")
                continue
            }
            if zones.contains(where: { $0.name == name }) {
                reader.fail(
                    .duplicate, at: entry.keyNode, key: "zones.\(entry.key)", "is listed twice",
                    expected: "each zone once")
                continue
            }
            if let zone = readZone(entry.value, name: name, key: "zones.\(entry.key)", pools: Set(pools.map(\.name))) {
                zones.append(zone)
            }
        }
        return zones
    }

    private mutating func readZone(_ node: YAMLNode, name: DomainName, key: String, pools: Set<String>) -> Zone? {
        guard var fields = reader.fields(node, key: key, section: ZoneKeys.section) else { return nil }
        var zone = Zone(
            name: name,
            soa: Zone.SOA(
                primary: name.prepending(Array("ns1".utf8)) ?? name,
                mailbox: name.prepending(Array("hostmaster".utf8)) ?? name))
        if let node = fields[ZoneKeys.ttl] {
            if let ttl = seconds(node, key: "\(key).ttl") { zone.ttl = ttl } else { fields.failed = true }
        }
        if let policy = reader.read(ZoneKeys.whenAllDown, in: &fields) { zone.allDown = policy }
        if let node = fields[ZoneKeys.soa] {
            for entry in reader.fields(node, key: "\(key).soa", section: SOAKeys.section)?.entries ?? [] {
                let path = "\(key).soa.\(entry.key)"
                switch entry.key {
                case "primary", "mailbox":
                    guard let target = domainName(entry.value, key: path, zone: name) else {
                        fields.failed = true
                        continue
                    }
                    if entry.key == "primary" { zone.soa.primary = target } else { zone.soa.mailbox = target }
                case "serial":
                    guard case .scalar(let scalar) = entry.value, let serial = UInt32(scalar.string) else {
                        reader.fail(
                            .invalidValue, at: entry.value, key: path, "is \(reader.describe(entry.value))",
                            expected: "a whole number from 0 to 4294967295, such as 2026112101")
                        fields.failed = true
                        continue
                    }
                    zone.soa.serial = serial
                default:
                    guard let value = seconds(entry.value, key: path) else {
                        fields.failed = true
                        continue
                    }
                    switch entry.key {
                    case "refresh": zone.soa.refresh = value
                    case "retry": zone.soa.retry = value
                    case "expire": zone.soa.expire = value
                    default: zone.soa.minimum = value
                    }
                }
            }
        }
        if let node = fields[ZoneKeys.secondaries] {
            for (index, item)
                in (reader.sequence(node, key: "\(key).secondaries", what: "a list of ADDRESS:PORT") ?? [])
                .enumerated()
            {
                if let endpoint = reader.endpoint(item, key: "\(key).secondaries[\(index)]") {
                    zone.secondaries.append(endpoint)
                } else {
                    fields.failed = true
                }
            }
        }
        var cnames: Set<DomainName> = []
        var others: Set<DomainName> = []
        for (index, item)
            in (fields[ZoneKeys.records].flatMap {
                reader.sequence($0, key: "\(key).records", what: "a list of records")
            }
            ?? [])
            .enumerated()
        {
            let path = "\(key).records[\(index)]"
            guard let record = readRecord(item, key: path, zone: zone, pools: pools) else {
                fields.failed = true
                continue
            }
            if case .cname = record.value {
                if others.contains(record.name) || !cnames.insert(record.name).inserted {
                    reader.fail(
                        .conflict, at: item, key: path, "\(record.name) has a CNAME and other records",
                        expected: "a CNAME alone at its name (RFC 1034)")
                    fields.failed = true
                }
            } else {
                if cnames.contains(record.name) {
                    reader.fail(
                        .conflict, at: item, key: path, "\(record.name) has a CNAME and other records",
                        expected: "a CNAME alone at its name (RFC 1034)")
                    fields.failed = true
                }
                others.insert(record.name)
            }
            zone.records.append(record)
        }
        return fields.failed ? nil : zone
    }

    private mutating func readRecord(_ node: YAMLNode, key: String, zone: Zone, pools: Set<String>) -> ZoneRecord? {
        guard let fields = reader.fields(node, key: key, section: RecordKeys.section) else { return nil }
        guard let nameNode = fields[RecordKeys.name], let typeNode = fields[RecordKeys.type] else {
            reader.missing(
                fields.has(RecordKeys.name) ? "type" : "name", in: node, key: key,
                expected: "name: NAME and type: A|AAAA|NS|CNAME|MX|TXT|SRV")
            return nil
        }
        guard let owner = domainName(nameNode, key: "\(key).name", zone: zone.name) else { return nil }
        guard owner.isSubdomain(of: zone.name) else {
            reader.fail(
                .invalidValue, at: nameNode, key: "\(key).name", "\(owner) is outside the zone",
                expected: "a name in \(zone.name)")
            return nil
        }
        guard case .scalar(let typeScalar) = typeNode, Self.recordTypes.contains(typeScalar.string.uppercased()) else {
            reader.fail(
                .invalidValue, at: typeNode, key: "\(key).type", "is \(reader.describe(typeNode))",
                expected: "one of " + Self.recordTypes.joined(separator: ", "))
            return nil
        }
        let type = typeScalar.string.uppercased()
        var ttl = zone.ttl
        if let node = fields[RecordKeys.ttl] {
            guard let value = seconds(node, key: "\(key).ttl") else { return nil }; ttl = value
        }
        var pool: String?
        if let node = fields[RecordKeys.pool] {
            guard let name = reader.name(node, key: "\(key).pool") else { return nil }
            guard pools.contains(name) else {
                if brokenPools.contains(name) { return nil }
                reader.fail(
                    .unknownReference, at: node, key: "\(key).pool", "names no pool \"\(name)\"",
                    expected: "a pool defined under pools:")
                return nil
            }
            guard ["A", "AAAA", "SRV"].contains(type) else {
                reader.fail(
                    .conflict, at: node, key: "\(key).pool", "applies only to A, AAAA and SRV records",
                    expected: "type: A, AAAA or SRV")
                return nil
            }
            pool = name
        }
        func required(_ field: ConfigKey<YAMLNode>, _ expected: String) -> YAMLNode? {
            guard let value = fields[field] else {
                reader.missing(field.name, in: node, key: key, expected: expected)
                return nil
            }
            return value
        }
        func number(_ field: ConfigKey<YAMLNode>) -> UInt16? {
            guard let value = required(field, "a whole number from 0 to 65535"),
                let number = reader.int(value, key: fields.path(field), range: 0...65535)
            else { return nil }
            return UInt16(number)
        }
        let value: ZoneRecord.Value
        switch type {
        case "A", "AAAA":
            if let pool, type == "A" || type == "AAAA" {
                if let extra = fields[RecordKeys.value] {
                    reader.fail(
                        .conflict, at: extra, key: "\(key).value", "is given with pool",
                        expected: "value: ADDRESS, or pool: POOL")
                    return nil
                }
                value = .pool(pool)
            } else {
                guard let node = required(RecordKeys.value, "an IP address, or pool: POOL"),
                    let address = reader.address(node, key: "\(key).value")
                else { return nil }
                guard (address.family == .v4) == (type == "A") else {
                    reader.fail(
                        .invalidValue, at: node, key: "\(key).value", "is not an IPv\(type == "A" ? 4 : 6) address",
                        expected: type == "A" ? "an IPv4 address" : "an IPv6 address")
                    return nil
                }
                value = type == "A" ? .a(address) : .aaaa(address)
            }
        case "NS", "CNAME":
            guard let node = required(RecordKeys.value, "a name"),
                let target = domainName(node, key: "\(key).value", zone: zone.name)
            else { return nil }
            value = type == "NS" ? .ns(target) : .cname(target)
        case "MX":
            guard let node = required(RecordKeys.value, "the mail exchanger's name"),
                let target = domainName(node, key: "\(key).value", zone: zone.name)
            else { return nil }
            let preference = fields[RecordKeys.preference] == nil ? 10 : number(RecordKeys.preference)
            guard let preference else { return nil }
            value = .mx(preference: preference, exchange: target)
        case "TXT":
            guard let node = required(RecordKeys.value, "text"),
                let text = reader.string(node, key: "\(key).value", what: "text")
            else { return nil }
            value = .txt(
                stride(from: 0, to: text.utf8.count, by: 255).map {
                    Array(Array(text.utf8)[$0..<min($0 + 255, text.utf8.count)])
                })
        default:
            guard let priority = number(RecordKeys.priority), let weight = number(RecordKeys.weight),
                let port = number(RecordKeys.port),
                let node = required(RecordKeys.target, "the target's name"),
                let target = domainName(node, key: "\(key).target", zone: zone.name)
            else { return nil }
            value = .srv(priority: priority, weight: weight, port: port, target: target, pool: pool)
        }
        return ZoneRecord(name: owner, ttl: ttl, value: value)
    }

    /// A name relative to the zone unless it ends with a dot; `@` is the apex.
    private mutating func domainName(_ node: YAMLNode, key: String, zone: DomainName) -> DomainName? {
        guard let text = reader.string(node, key: key, what: "a DNS name") else { return nil }
        if text == "@" { return zone }
        let name =
            text.hasSuffix(".")
            ? DomainName(text) : DomainName(text).flatMap { DomainName(labels: $0.labels + zone.labels) }
        guard let name else {
            reader.fail(
                .invalidValue, at: node, key: key, "\"\(text)\" is not a DNS name",
                expected: "labels of at most 63 characters, 255 in all")
            return nil
        }
        return name
    }

    private mutating func seconds(_ node: YAMLNode, key: String) -> UInt32? {
        guard let duration = reader.duration(node, key: key, minimum: .zero) else { return nil }
        return UInt32(clamping: duration.components.seconds)
    }
}
