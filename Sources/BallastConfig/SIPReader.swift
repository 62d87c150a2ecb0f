import BallastCore
import Foundation
import Yams

/// The `sip` section: registrars per pool, the director, digest and failover settings.
extension TopologyBuilder {
    static let sipKeys = [
        "realm", "users-file", "registrations-file", "registrars", "director", "certificates", "failure-detection",
        "fallback", "nonce-lifetime", "algorithms", "expires", "max-contacts", "handshake-timeout", "message-timeout",
        "max-connections",
    ]
    static let sipRegistrarKeys = ["listen", "contact"]
    static let sipExpiresKeys = ["min", "max", "default"]
    static let sipListenForm = "TRANSPORT://ADDRESS:PORT such as udp://10.0.0.10:5060 or tls://10.0.0.10:5061"

    mutating func readSIP(_ node: YAMLNode, pools: [Pool]) -> SIPSettings? {
        guard let entries = reader.mapping(node, key: "sip", allowed: Self.sipKeys, what: "a mapping of SIP settings")
        else { return nil }
        let values = Dictionary(entries.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        guard let realmNode = values["realm"] else {
            reader.missing("realm", in: node, key: "sip", expected: "the digest realm, such as lab.example")
            return nil
        }
        guard let realm = reader.string(realmNode, key: "sip.realm", what: "the digest realm, such as lab.example")
        else { return nil }
        var settings = SIPSettings(realm: realm)
        var ok = true
        if let node = values["users-file"] {
            if let path = reader.string(node, key: "sip.users-file", what: "a path to a users YAML file") {
                settings.usersFile = resolve(path)
            } else {
                ok = false
            }
        }
        if let node = values["registrations-file"] {
            if let path = reader.string(node, key: "sip.registrations-file", what: "a path where bindings are kept") {
                settings.registrationsFile = resolve(path)
            } else {
                ok = false
            }
        }
        for (name, minimum, assign) in [
            ("failure-detection", Duration.zero, { (s: inout SIPSettings, d: Duration) in s.failureDetection = d }),
            ("fallback", Duration.zero, { (s: inout SIPSettings, d: Duration) in s.fallback = d }),
            ("nonce-lifetime", Duration.seconds(1), { (s: inout SIPSettings, d: Duration) in s.nonceLifetime = d }),
            (
                "handshake-timeout", Duration.milliseconds(100),
                { (s: inout SIPSettings, d: Duration) in s.handshakeTimeout = d }
            ),
            (
                "message-timeout", Duration.milliseconds(100),
                { (s: inout SIPSettings, d: Duration) in s.messageTimeout = d }
            ),
        ] {
            guard let node = values[name] else { continue }
            if let value = reader.duration(node, key: "sip.\(name)", minimum: minimum) {
                assign(&settings, value)
            } else {
                ok = false
            }
        }
        if let node = values["algorithms"] {
            let expected = "a list of MD5 and SHA-256, most preferred first"
            var algorithms: [DigestAlgorithm] = []
            for (index, item) in (reader.sequence(node, key: "sip.algorithms", what: expected) ?? []).enumerated() {
                guard let text = item.scalar?.string, let algorithm = DigestAlgorithm(headerValue: text),
                    !algorithms.contains(algorithm)
                else {
                    reader.fail(
                        .invalidValue, at: item, key: "sip.algorithms[\(index)]", "is \(reader.describe(item))",
                        expected: expected + ", each once")
                    ok = false
                    continue
                }
                algorithms.append(algorithm)
            }
            if algorithms.isEmpty { ok = false } else { settings.algorithms = algorithms }
        }
        if let node = values["expires"] {
            for entry in reader.mapping(
                node, key: "sip.expires", allowed: Self.sipExpiresKeys, what: "{min, max, default}")
                ?? []
            {
                guard let seconds = reader.int(entry.value, key: "sip.expires.\(entry.key)", range: 1...(7 * 86400))
                else {
                    ok = false
                    continue
                }
                switch entry.key {
                case "min": settings.minExpires = seconds
                case "max": settings.maxExpires = seconds
                default: settings.defaultExpires = seconds
                }
            }
            if settings.minExpires > settings.maxExpires
                || !(settings.minExpires...settings.maxExpires).contains(settings.defaultExpires)
            {
                reader.fail(
                    .conflict, at: node, key: "sip.expires",
                    "min \(settings.minExpires), default \(settings.defaultExpires), max \(settings.maxExpires) are out of order",
                    expected: "min <= default <= max, in seconds")
                ok = false
            }
        }
        if let node = values["max-connections"] {
            if let value = reader.int(node, key: "sip.max-connections", range: 1...1_000_000) {
                settings.maxConnections = value
            } else {
                ok = false
            }
        }
        if let node = values["max-contacts"] {
            if let value = reader.int(node, key: "sip.max-contacts", range: 1...1000) {
                settings.maxContacts = value
            } else {
                ok = false
            }
        }
        var brokenCertificate = false
        if let node = values["certificates"] {
            let items = reader.sequence(node, key: "sip.certificates", what: "a list of {certificate: FILE, key: FILE}")
            brokenCertificate = items == nil
            for (index, item) in (items ?? []).enumerated() {
                if let certificate = readCertificate(item, key: "sip.certificates[\(index)]") {
                    settings.certificates.append(certificate)
                } else {
                    ok = false
                    brokenCertificate = true
                }
            }
        }
        let poolNames = Set(pools.map(\.name))
        var seen: [SIPSettings.Listen: String] = [:]
        if let node = values["registrars"] {
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
                    ok = false
                    continue
                }
                guard let registrar = readRegistrar(entry.value, pool: entry.key, key: key, seen: &seen) else {
                    ok = false
                    continue
                }
                settings.registrars.append(registrar)
            }
        }
        if let node = values["director"] {
            let entries = reader.mapping(node, key: "sip.director", allowed: ["listen"], what: "{listen: [...]}") ?? []
            for entry in entries {
                guard
                    let listen = readSIPListen(
                        entry.value, key: "sip.director.listen", seen: &seen, owner: "the director")
                else {
                    ok = false
                    continue
                }
                settings.director = listen
            }
        }
        if settings.listeners.contains(where: { $0.listen.transport == .tls }) && settings.certificates.isEmpty
            && !brokenCertificate
        {
            reader.fail(
                .missingKey, at: node, key: "sip.certificates", "is missing: a tls:// listener needs a certificate",
                expected: "certificates: [{certificate: sip.pem, key: sip.key}]")
            ok = false
        }
        if settings.listeners.isEmpty && ok {
            reader.fail(
                .missingKey, at: node, key: "sip.registrars",
                "names no listener: the SIP edge would not listen anywhere",
                expected: "registrars: {POOL: {listen: [udp://ADDRESS:5060]}} or director: {listen: [...]}")
            ok = false
        }
        return ok ? settings : nil
    }

    private mutating func readRegistrar(
        _ node: YAMLNode, pool: String, key: String, seen: inout [SIPSettings.Listen: String]
    ) -> SIPSettings.Registrar? {
        guard
            let entries = reader.mapping(
                node, key: key, allowed: Self.sipRegistrarKeys,
                what: "{listen: [TRANSPORT://ADDRESS:PORT], contact: URI}")
        else { return nil }
        let values = Dictionary(entries.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        var listen: [SIPSettings.Listen] = []
        if let node = values["listen"] {
            guard let list = readSIPListen(node, key: "\(key).listen", seen: &seen, owner: "registrar \(pool)") else {
                return nil
            }
            listen = list
        }
        var contact: String?
        if let node = values["contact"] {
            guard let text = node.scalar?.string, text.hasPrefix("sip:") || text.hasPrefix("sips:"),
                text.contains(where: { $0 != " " }), !text.contains(" "), !text.contains("<"), !text.contains(">")
            else {
                reader.fail(
                    .invalidValue, at: node, key: "\(key).contact", "is \(reader.describe(node))",
                    expected: "a SIP URI such as sip:pool01.example.com:5061;transport=tls")
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
