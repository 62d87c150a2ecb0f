import BallastCore
import Foundation
import Yams

/// The `sip` section: registrars per pool, the director, digest and failover settings.
extension TopologyBuilder {
    static let sipListenForm = "TRANSPORT://ADDRESS:PORT such as udp://10.0.0.10:5060 or tls://10.0.0.10:5061"

    mutating func readSIP(_ node: YAMLNode, pools: [Pool]) -> SIPSettings? {
        guard var fields = reader.fields(node, key: "sip", section: SIPKeys.section),
            let realm = reader.require(SIPKeys.realm, in: &fields)
        else { return nil }
        var settings = SIPSettings(realm: realm)
        if let path = reader.read(SIPKeys.usersFile, in: &fields) { settings.usersFile = resolve(path) }
        if let path = reader.read(SIPKeys.registrationsFile, in: &fields) { settings.registrationsFile = resolve(path) }
        if let value = reader.read(SIPKeys.failureDetection, in: &fields) { settings.failureDetection = value }
        if let value = reader.read(SIPKeys.fallback, in: &fields) { settings.fallback = value }
        if let value = reader.read(SIPKeys.nonceLifetime, in: &fields) { settings.nonceLifetime = value }
        if let value = reader.read(SIPKeys.handshakeTimeout, in: &fields) { settings.handshakeTimeout = value }
        if let value = reader.read(SIPKeys.messageTimeout, in: &fields) { settings.messageTimeout = value }
        if let node = fields[SIPKeys.algorithms] {
            let expected = "a list of MD5 and SHA-256, most preferred first"
            var algorithms: [DigestAlgorithm] = []
            for (index, item) in (reader.sequence(node, key: "sip.algorithms", what: expected) ?? []).enumerated() {
                guard let text = item.scalar?.string, let algorithm = DigestAlgorithm(headerValue: text),
                    !algorithms.contains(algorithm)
                else {
                    reader.fail(
                        .invalidValue, at: item, key: "sip.algorithms[\(index)]", "is \(reader.describe(item))",
                        expected: expected + ", each once")
                    fields.failed = true
                    continue
                }
                algorithms.append(algorithm)
            }
            if algorithms.isEmpty { fields.failed = true } else { settings.algorithms = algorithms }
        }
        if let node = fields[SIPKeys.expires] {
            if var expires = reader.fields(node, key: "sip.expires", section: SIPExpiresKeys.section) {
                if let seconds = reader.read(SIPExpiresKeys.min, in: &expires) { settings.minExpires = seconds }
                if let seconds = reader.read(SIPExpiresKeys.max, in: &expires) { settings.maxExpires = seconds }
                if let seconds = reader.read(SIPExpiresKeys.defaultSeconds, in: &expires) {
                    settings.defaultExpires = seconds
                }
                if expires.failed { fields.failed = true }
            } else {
                fields.failed = true
            }
            if settings.minExpires > settings.maxExpires
                || !(settings.minExpires...settings.maxExpires).contains(settings.defaultExpires)
            {
                reader.fail(
                    .conflict, at: node, key: "sip.expires",
                    "min \(settings.minExpires), default \(settings.defaultExpires), max \(settings.maxExpires) are out of order",
                    expected: "min <= default <= max, in seconds")
                fields.failed = true
            }
        }
        if let value = reader.read(SIPKeys.maxConnections, in: &fields) { settings.maxConnections = value }
        if let value = reader.read(SIPKeys.maxContacts, in: &fields) { settings.maxContacts = value }
        var brokenCertificate = false
        if let node = fields[SIPKeys.certificates] {
            let items = reader.sequence(node, key: "sip.certificates", what: "a list of {certificate: FILE, key: FILE}")
            brokenCertificate = items == nil
            for (index, item) in (items ?? []).enumerated() {
                if let certificate = readCertificate(item, key: "sip.certificates[\(index)]") {
                    settings.certificates.append(certificate)
                } else {
                    fields.failed = true
                    brokenCertificate = true
                }
            }
        }
        let poolNames = Set(pools.map(\.name))
        var seen: [SIPSettings.Listen: String] = [:]
        if let node = fields[SIPKeys.registrars] {
            for entry in reader.mapping(node, key: "sip.registrars", what: "a mapping of pool names to registrars")
                ?? []
            {
                let key = "sip.registrars.\(entry.key)"
                guard poolNames.contains(entry.key) else {
                    if brokenPools.contains(entry.key) { continue }
                    var message = "names no pool"
                    if let suggestion = YAMLReader.suggestion(for: entry.key, among: Array(poolNames)) {
                        message += " (did you mean \"\(suggestion)\"?)"
                    }
                    reader.fail(
                        .unknownReference, at: entry.keyNode, key: key, message,
                        expected: "a pool from pools: " + pools.map(\.name).joined(separator: ", "))
                    fields.failed = true
                    continue
                }
                guard let registrar = readRegistrar(entry.value, pool: entry.key, key: key, seen: &seen) else {
                    fields.failed = true
                    continue
                }
                settings.registrars.append(registrar)
            }
        }
        if let node = fields[SIPKeys.director] {
            if let director = reader.fields(node, key: "sip.director", section: SIPDirectorKeys.section) {
                if let listenNode = director[SIPDirectorKeys.listen] {
                    if let listen = readSIPListen(
                        listenNode, key: director.path(SIPDirectorKeys.listen), seen: &seen, owner: "the director")
                    {
                        settings.director = listen
                    } else {
                        fields.failed = true
                    }
                }
            } else {
                fields.failed = true
            }
        }
        if settings.listeners.contains(where: { $0.listen.transport == .tls }) && settings.certificates.isEmpty
            && !brokenCertificate
        {
            reader.fail(
                .missingKey, at: node, key: "sip.certificates", "is missing: a tls:// listener needs a certificate",
                expected: "certificates: [{certificate: sip.pem, key: sip.key}]")
            fields.failed = true
        }
        if settings.listeners.isEmpty && !fields.failed {
            reader.fail(
                .missingKey, at: node, key: "sip.registrars",
                "names no listener: the SIP edge would not listen anywhere",
                expected: "registrars: {POOL: {listen: [udp://ADDRESS:5060]}} or director: {listen: [...]}")
            fields.failed = true
        }
        return fields.failed ? nil : settings
    }

    private mutating func readRegistrar(
        _ node: YAMLNode, pool: String, key: String, seen: inout [SIPSettings.Listen: String]
    ) -> SIPSettings.Registrar? {
        guard let fields = reader.fields(node, key: key, section: SIPRegistrarKeys.section) else { return nil }
        var listen: [SIPSettings.Listen] = []
        if let node = fields[SIPRegistrarKeys.listen] {
            guard let list = readSIPListen(node, key: "\(key).listen", seen: &seen, owner: "registrar \(pool)") else {
                return nil
            }
            listen = list
        }
        var contact: String?
        if let node = fields[SIPRegistrarKeys.contact] {
            guard let text = node.scalar?.string, text.hasPrefix("sip:") || text.hasPrefix("sips:"),
                text.contains(where: { $0 != " " }), !text.contains(" "), !text.contains("<"), !text.contains(">")
            else {
                reader.fail(
                    .invalidValue, at: node, key: "\(key).contact", "is \(reader.describe(node))",
                    expected: SIPRegistrarKeys.contact.declaration.expected)
                return nil
            }
            contact = text
        }
        guard contact != nil || !listen.isEmpty else {
            reader.missing(
                "contact", in: node, key: key,
                expected: "a SIP URI for redirects (a registrar Ballast does not listen for needs one)")
            return nil
        }
        return SIPSettings.Registrar(pool: pool, listen: listen, contact: contact)
    }

    private mutating func readSIPListen(
        _ node: YAMLNode, key: String, seen: inout [SIPSettings.Listen: String], owner: String
    ) -> [SIPSettings.Listen]? {
        let items: [YAMLNode]
        if case .sequence(let sequence) = node { items = Array(sequence) } else { items = [node] }
        var result: [SIPSettings.Listen] = []
        for (index, item) in items.enumerated() {
            let itemKey = "\(key)[\(index)]"
            guard let text = item.scalar?.string, let range = text.range(of: "://"),
                let transport = SIPSettings.Transport(rawValue: text[..<range.lowerBound].lowercased()),
                let endpoint = Endpoint(text[range.upperBound...])
            else {
                reader.fail(
                    .invalidValue, at: item, key: itemKey, "is \(reader.describe(item))", expected: Self.sipListenForm)
                return nil
            }
            let listen = SIPSettings.Listen(transport: transport, endpoint: endpoint)
            if let other = seen[listen] {
                reader.fail(
                    .duplicate, at: item, key: itemKey, "\(listen) is already where \(other) listens",
                    expected: "each transport, address and port once")
                return nil
            }
            seen[listen] = owner
            result.append(listen)
        }
        return result
    }
}
