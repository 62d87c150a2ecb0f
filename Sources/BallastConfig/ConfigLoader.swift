public import BallastCore
import Foundation
import Yams

/// Reads a YAML config file into a validated `Topology`.
///
/// Every problem is collected, each naming file, line, key and the expected form; the
/// loader fails only after reading the whole file.
public enum ConfigLoader {
    /// Loads and validates the file at `path`.
    public static func load(path: String) throws(ConfigErrors) -> Topology {
        try parse(yaml: read(path, expected: "a readable YAML file; check the path given with -c"), file: path)
    }

    /// The text of a file Ballast reads, or an error saying why it cannot be read.
    public static func read(_ path: String, expected: String) throws(ConfigErrors) -> String {
        do {
            return try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigErrors(errors: [
                ConfigError(
                    code: .unreadable, file: path, line: nil, column: nil, key: "",
                    message: "cannot be read (\(Self.reason(error)))", expected: expected)
            ])
        }
    }

    /// Parses and validates YAML text; `file` names it in errors.
    public static func parse(yaml: String, file: String) throws(ConfigErrors) -> Topology {
        let root: YAMLNode
        do {
            guard let node = try Yams.compose(yaml: yaml) else {
                throw ConfigErrors(errors: [
                    ConfigError(
                        code: .missingKey, file: file, line: 1, column: 1, key: "", message: "the file is empty",
                        expected: "a mapping with pools and relays (see examples/)")
                ])
            }
            root = node
        } catch let error as ConfigErrors {
            throw error
        } catch let error as YamlError {
            throw ConfigErrors(errors: [syntaxError(error, file: file)])
        } catch {
            throw ConfigErrors(errors: [
                ConfigError(
                    code: .syntax, file: file, line: nil, column: nil, key: "", message: "is not valid YAML (\(error))",
                    expected: "YAML as in examples/")
            ])
        }
        var builder = TopologyBuilder(reader: YAMLReader(file: file))
        let topology = builder.build(root)
        let errors = builder.reader.errors.sorted { ($0.line ?? 0, $0.column ?? 0) < ($1.line ?? 0, $1.column ?? 0) }
        guard errors.isEmpty, let topology else {
            throw ConfigErrors(errors: errors)
        }
        return topology
    }

    private static func syntaxError(_ error: YamlError, file: String) -> ConfigError {
        switch error {
        case .duplicatedKeysInMapping(let duplicates, let context):
            return ConfigError(
                code: .duplicate, file: file, line: context.mark.line, column: context.mark.column,
                key: duplicates.sorted().joined(separator: ", "),
                message: "appears more than once in the mapping that starts here", expected: "each key once")
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _):
            let what = [context?.text, problem].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ": ")
            return ConfigError(
                code: .syntax, file: file, line: mark.line, column: mark.column, key: "",
                message: "is not valid YAML (\(what))", expected: "YAML as in examples/")
        default:
            return ConfigError(
                code: .syntax, file: file, line: nil, column: nil, key: "", message: "is not valid YAML (\(error))",
                expected: "YAML as in examples/")
        }
    }

    private static func reason(_ error: any Error) -> String {
        let nsError = error as NSError
        if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError,
            let posix = POSIXErrorCode(rawValue: Int32(underlying.code))
        {
            return String(describing: POSIXError(posix).localizedDescription)
        }
        return nsError.localizedDescription
    }
}

/// Walks the document; each part reads its own keys.
struct TopologyBuilder {
    var reader: YAMLReader

    static let topKeys = [
        "node", "admin", "sites", "checks", "pools", "relays", "dns", "zones", "sip", "store", "backup", "witness",
    ]
    static let nodeKeys = ["shutdown-grace"]
    static let adminKeys = ["listen", "token"]
    static let checkKeys = [
        "type", "port", "interval", "timeout", "rise", "fall", "path", "host", "expect-status", "expect-body",
        "verify", "ca-file", "server-name", "transport",
    ]
    static let poolKeys = ["site", "backup-pool", "check", "servers"]
    static let serverKeys = ["name", "address", "port", "weight", "backup", "site", "check"]
    static let relayKeys =
        [
            "listen", "ports", "protocol", "pool", "mode", "persistence", "timeouts", "max-connections", "forward-port",
            "proxy-protocol", "accept-proxy-protocol",
        ] + httpRelayKeys
    static let persistenceKeys = ["type", "timeout", "size", "name", "key", "secure", "http-only", "same-site", "path"]
    static let timeoutKeys = ["connect", "idle", "handshake", "login"] + httpTimeoutKeys

    enum CheckType: String, CaseIterable {
        case tcp, tls, http, https
        case sipOptions = "sip-options"
    }

    enum PersistenceType: String, CaseIterable {
        case none, source, cookie
    }

    mutating func build(_ root: YAMLNode) -> Topology? {
        guard let entries = reader.mapping(root, key: "", allowed: Self.topKeys, what: "a mapping of sections") else {
            return nil
        }
        let section = Dictionary(entries.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        var topology = Topology()
        if let node = section["node"] { topology.node = readNode(node.value) }
        if let admin = section["admin"] { topology.admin = readAdmin(admin.value) }
        if let sites = section["sites"] { topology.sites = readSites(sites.value) }
        var checks: [String: (Check, YAMLNode)] = [:]
        if let section = section["checks"] { checks = readChecks(section.value) }
        if let pools = section["pools"] {
            topology.pools = readPools(pools.value, checks: checks, sites: Set(topology.sites.map(\.name)))
        }
        if let relays = section["relays"] {
            topology.relays = readRelays(relays.value, pools: topology.pools)
        } else if section["pools"] != nil {
            // Pools without relays are legal (later: DNS and SIP use them), nothing to say.
        }
        if let dns = section["dns"] { topology.dns = readDNS(dns.value) }
        if let zones = section["zones"] { topology.zones = readZones(zones.value, pools: topology.pools) }
        if !topology.zones.isEmpty && topology.dns.listeners.isEmpty, let zones = section["zones"] {
            reader.fail(
                .missingKey, at: zones.keyNode, key: "dns.listen", "is missing: zones need a DNS listener",
                expected: "dns: {listen: [ADDRESS:53]}")
        }
        if let sip = section["sip"] { topology.sip = readSIP(sip.value, pools: topology.pools) }
        if let store = section["store"] { topology.store = readStore(store.value, sip: topology.sip) }
        if let witness = section["witness"] {
            topology.witness = readWitness(witness.value)
            if topology.store == nil || topology.sites.count < 2 {
                reader.fail(
                    .conflict, at: witness.keyNode, key: "witness", "needs a store and two sites to fail over between",
                    expected: "a store section and two sites, or no witness")
            }
        }
        if let backup = section["backup"] {
            topology.backup = readBackup(backup.value)
            if topology.store == nil {
                reader.fail(
                    .conflict, at: backup.keyNode, key: "backup", "needs a store to back up",
                    expected: "a store section, or no backup section")
            }
        }
        if topology.store != nil, topology.sip?.usersFile != nil, let sip = section["sip"] {
            reader.fail(
                .conflict, at: sip.keyNode, key: "sip.users-file",
                "cannot be used with a store: users come from the store",
                expected: "no users-file; load it once with `ballast users import FILE`")
        }
        validateProbePorts(topology)
        validateListeners(topology, sections: section.mapValues(\.keyNode))
        if section["pools"] == nil && section["relays"] == nil && section["zones"] == nil && section["sip"] == nil {
            reader.fail(
                .missingKey, at: root, key: "pools", "is required",
                expected: "at least one pool and one relay (see examples/)")
        }
        return topology
    }

    /// Every address Ballast listens on, checked against every other before anything binds: the
    /// admin listener, relays, DNS (UDP and TCP) and SIP (UDP, TCP, TLS), TCP and UDP apart. A
    /// wildcard address (0.0.0.0, ::) takes its port on every address of its family. Conflicts
    /// inside the relays or inside SIP are reported where those sections are read.
    private mutating func validateListeners(_ topology: Topology, sections: [String: YAMLNode]) {
        enum Layer: String { case tcp = "TCP", udp = "UDP" }
        var claimed: [(endpoint: Endpoint, layer: Layer, owner: String, section: String)] = []
        if let admin = topology.admin { claimed.append((admin.listen, .tcp, "the admin listener", "admin")) }
        for relay in topology.relays { claimed.append((relay.listen, .tcp, "relay \(relay.name)", "relays")) }
        for endpoint in topology.dns.listeners {
            claimed.append((endpoint, .udp, "the DNS listener", "dns"))
            claimed.append((endpoint, .tcp, "the DNS listener", "dns"))
        }
        for (listen, pool) in topology.sip?.listeners ?? [] {
            let owner = pool.map { "the SIP registrar of \($0)" } ?? "the SIP director"
            claimed.append((listen.endpoint, listen.transport == .udp ? .udp : .tcp, owner, "sip"))
        }
        func overlap(_ a: Endpoint, _ b: Endpoint) -> Bool {
            guard a.port == b.port, a.address.family == b.address.family else { return false }
            let any = a.address.family == .v4 ? IPAddress(v4: 0, 0, 0, 0) : IPAddress(v6High: 0, low: 0)
            return a.address == b.address || a.address == any || b.address == any
        }
        var reported: Set<String> = []
        for (index, later) in claimed.enumerated() {
            guard
                let earlier = claimed[..<index].first(where: {
                    $0.section != later.section && $0.layer == later.layer && overlap($0.endpoint, later.endpoint)
                }), reported.insert("\(later.owner) \(later.layer)").inserted
            else { continue }
            reader.fail(
                .duplicate, at: sections[later.section], key: later.section,
                "\(later.owner) listens on \(later.endpoint) (\(later.layer.rawValue)), which \(earlier.owner) also listens on (\(earlier.endpoint))",
                expected: "one listener per address, port and protocol")
        }
    }

    /// A check needs a port: its own, the server's, or the ports relays forward to (servers with
    /// `check: none` are not probed and need none).
    private mutating func validateProbePorts(_ topology: Topology) {
        for pool in topology.pools where pool.check != nil && !poolsOfBrokenRelays.contains(pool.name) {
            guard
                let server = pool.servers.first(where: {
                    !$0.unchecked && topology.probePorts(pool: pool, server: $0).isEmpty
                })
            else {
                continue
            }
            reader.fail(
                .conflict, at: poolNodes[pool.name], key: "pools.\(pool.name).check",
                "cannot probe server \(server.name): no port on the check or the server, and no relay forwards to this pool",
                expected: "port: on the check, or ADDRESS:PORT on each server")
        }
    }

    private mutating func readNode(_ node: YAMLNode) -> Topology.NodeSettings {
        var settings = Topology.NodeSettings()
        for entry in reader.mapping(node, key: "node", allowed: Self.nodeKeys, what: "a mapping") ?? [] {
            if entry.key == "shutdown-grace", let value = reader.duration(entry.value, key: "node.shutdown-grace") {
                settings.shutdownGrace = value
            }
        }
        return settings
    }

    private mutating func readAdmin(_ node: YAMLNode) -> Topology.Admin? {
        guard let entries = reader.mapping(node, key: "admin", allowed: Self.adminKeys, what: "a mapping") else {
            return nil
        }
        var listen: Endpoint?
        var token: String?
        for entry in entries {
            switch entry.key {
            case "listen": listen = reader.endpoint(entry.value, key: "admin.listen")
            case "token": token = reader.string(entry.value, key: "admin.token", what: "a secret string")
            default: break
            }
        }
        guard entries.contains(where: { $0.key == "listen" }) else {
            reader.missing("listen", in: node, key: "admin", expected: "ADDRESS:PORT such as 127.0.0.1:9900")
            return nil
        }
        if let listen, token == nil, !listen.address.isLoopback {
            // Anyone who reaches the address could drain servers and apply plans.
            reader.fail(
                .missingKey, at: node, key: "admin.token",
                "is required when admin.listen is not a loopback address (\(listen))",
                expected: "a long random string, or admin.listen on 127.0.0.1")
        }
        return listen.map { Topology.Admin(listen: $0, token: token) }
    }

    private mutating func readSites(_ node: YAMLNode) -> [Site] {
        var sites: [Site] = []
        var seen: Set<String> = []
        func add(_ name: String?, at node: YAMLNode, holdDown: Duration? = nil) {
            guard let name else { return }
            if !seen.insert(name).inserted {
                reader.fail(
                    .duplicate, at: node, key: "sites.\(name)", "is defined twice", expected: "unique site names")
                return
            }
            var site = Site(name: name)
            if let holdDown { site.holdDown = holdDown }
            sites.append(site)
        }
        if case .sequence(let sequence) = node {
            for (index, item) in sequence.enumerated() { add(reader.name(item, key: "sites[\(index)]"), at: item) }
            return sites
        }
        for entry in reader.mapping(node, key: "sites", what: "a mapping of site names, or a list of names") ?? [] {
            var holdDown: Duration?
            for setting in reader.mapping(
                entry.value, key: "sites.\(entry.key)", allowed: ["hold-down"], what: "{} or {hold-down: 10m}") ?? []
            {
                holdDown = reader.duration(setting.value, key: "sites.\(entry.key).hold-down", minimum: .zero)
            }
            add(reader.name(entry.keyNode, key: "sites.\(entry.key)"), at: entry.keyNode, holdDown: holdDown)
        }
        return sites
    }

    private mutating func readChecks(_ node: YAMLNode) -> [String: (Check, YAMLNode)] {
        var checks: [String: (Check, YAMLNode)] = [:]
        for entry in reader.mapping(node, key: "checks", what: "a mapping of check names to checks") ?? [] {
            guard let name = reader.name(entry.keyNode, key: "checks.\(entry.key)") else { continue }
            if let check = readCheck(entry.value, key: "checks.\(name)") {
                checks[name] = (check, entry.keyNode)
            } else {
                brokenChecks.insert(name)
            }
        }
        return checks
    }

    mutating func readCheck(_ node: YAMLNode, key: String) -> Check? {
        guard let entries = reader.mapping(node, key: key, allowed: Self.checkKeys, what: "a check mapping") else {
            return nil
        }
        let values = Dictionary(entries.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        var ok = true
        var check = Check()
        guard let typeNode = values["type"] else {
            reader.missing("type", in: node, key: key, expected: "one of tcp, tls, http, https, sip-options")
            return nil
        }
        guard let type = reader.choice(typeNode, key: "\(key).type", of: CheckType.self) else { return nil }
        if let node = values["port"] {
            if let port = reader.int(node, key: "\(key).port", range: 1...65535) {
                check.port = port
            } else {
                ok = false
            }
        }
        if let node = values["interval"] {
            if let value = reader.duration(node, key: "\(key).interval", minimum: .milliseconds(10)) {
                check.interval = value
            } else {
                ok = false
            }
        }
        if let node = values["timeout"] {
            if let value = reader.duration(node, key: "\(key).timeout", minimum: .milliseconds(1)) {
                check.timeout = value
            } else {
                ok = false
            }
        }
        if let node = values["rise"] {
            if let value = reader.int(node, key: "\(key).rise", range: 1...100) {
                check.rise = value
            } else {
                ok = false
            }
        }
        if let node = values["fall"] {
            if let value = reader.int(node, key: "\(key).fall", range: 1...100) {
                check.fall = value
            } else {
                ok = false
            }
        }
        let httpKeys = ["path", "host", "expect-body"]
        let tlsKeys = ["verify", "ca-file", "server-name"]
        for entry in entries {
            let isHTTP = httpKeys.contains(entry.key)
            let isTLS = tlsKeys.contains(entry.key)
            if entry.key == "expect-status" && !(type == .http || type == .https || type == .sipOptions) {
                reader.fail(
                    .conflict, at: entry.keyNode, key: "\(key).expect-status",
                    "applies only to http, https and sip-options checks",
                    expected: "type: http, https or sip-options, or no expect-status")
                ok = false
            }
            if entry.key == "transport" && type != .sipOptions {
                reader.fail(
                    .conflict, at: entry.keyNode, key: "\(key).transport", "applies only to sip-options checks",
                    expected: "type: sip-options, or no transport")
                ok = false
            }
            if isHTTP && !(type == .http || type == .https) {
                reader.fail(
                    .conflict, at: entry.keyNode, key: "\(key).\(entry.key)", "applies only to http and https checks",
                    expected: "type: http or https, or no \(entry.key)")
                ok = false
            }
            if isTLS && !(type == .tls || type == .https || type == .sipOptions) {
                reader.fail(
                    .conflict, at: entry.keyNode, key: "\(key).\(entry.key)",
                    "applies only to tls, https and sip-options checks",
                    expected: "type: tls, https or sip-options, or no \(entry.key)")
                ok = false
            }
        }
        var tls = Check.TLSProbe()
        if let node = values["verify"] {
            if let value = reader.bool(node, key: "\(key).verify") { tls.verify = value } else { ok = false }
        }
        if let node = values["ca-file"] {
            if let value = reader.string(node, key: "\(key).ca-file", what: "a path to a PEM file") {
                tls.caFile = value
                tls.verify = values["verify"] == nil ? true : tls.verify
            } else {
                ok = false
            }
        }
        if let node = values["server-name"] {
            if let value = reader.string(node, key: "\(key).server-name", what: "a DNS name") {
                tls.serverName = value
            } else {
                ok = false
            }
        }
        var sip = Check.SIPProbe()
        if let node = values["transport"] {
            if let transport = reader.choice(node, key: "\(key).transport", of: SIPSettings.Transport.self) {
                sip.transport = transport
            } else {
                ok = false
            }
        }
        var http = Check.HTTPProbe()
        if let node = values["path"] {
            if let value = reader.string(node, key: "\(key).path", what: "a path starting with /"),
                value.hasPrefix("/"),
                !value.contains(where: { $0 == " " || $0 == "\r" || $0 == "\n" })
            {
                http.path = value
            } else {
                if case .scalar = node {
                    reader.fail(
                        .invalidValue, at: node, key: "\(key).path", "is not a request path",
                        expected: "a path starting with / and without spaces")
                }
                ok = false
            }
        }
        if let node = values["host"] {
            if let value = reader.string(node, key: "\(key).host", what: "a host name") {
                http.host = value
            } else {
                ok = false
            }
        }
        if let node = values["expect-status"] {
            if let range = readStatusRange(node, key: "\(key).expect-status") {
                http.expectStatus = range
                sip.expectStatus = range
            } else {
                ok = false
            }
        }
        if let node = values["expect-body"] {
            if let value = reader.string(node, key: "\(key).expect-body", what: "text the body must contain") {
                http.expectBody = value
            } else {
                ok = false
            }
        }
        switch type {
        case .tcp: check.kind = .tcp
        case .tls: check.kind = .tls(tls)
        case .http: check.kind = .http(http, tls: nil)
        case .https: check.kind = .http(http, tls: tls)
        case .sipOptions:
            sip.tls = tls
            check.kind = .sipOptions(sip)
        }
        if check.timeout > check.interval {
            reader.fail(
                .conflict, at: values["timeout"] ?? node, key: "\(key).timeout",
                "\(DurationParser.format(check.timeout)) is longer than the interval \(DurationParser.format(check.interval))",
                expected: "a timeout no longer than the interval")
            ok = false
        }
        return ok ? check : nil
    }

    private mutating func readStatusRange(_ node: YAMLNode, key: String) -> ClosedRange<Int>? {
        let expected = "a status such as 200, or a range such as 200-399"
        guard case .scalar(let scalar) = node else {
            reader.fail(.invalidValue, at: node, key: key, "is \(reader.describe(node))", expected: expected)
            return nil
        }
        let parts = scalar.string.split(separator: "-", omittingEmptySubsequences: false).map {
            Int($0.trimmingCharacters(in: .whitespaces))
        }
        if parts.count == 1, let low = parts[0], (100...599).contains(low) { return low...low }
        if parts.count == 2, let low = parts[0], let high = parts[1], (100...599).contains(low),
            (100...599).contains(high), low <= high
        {
            return low...high
        }
        reader.fail(.invalidValue, at: node, key: key, "\"\(scalar.string)\" is not a status", expected: expected)
        return nil
    }

    /// Where each pool's check (or, without one, the pool) is written, for later messages.
    var poolNodes: [String: YAMLNode] = [:]
    /// Checks, pools and the pools of relays that were named but had errors of their own. A
    /// reference to one is not reported again: the first cause is the error, not what follows.
    var brokenChecks: Set<String> = []
    var brokenPools: Set<String> = []
    var poolsOfBrokenRelays: Set<String> = []

    private mutating func readPools(_ node: YAMLNode, checks: [String: (Check, YAMLNode)], sites: Set<String>) -> [Pool]
    {
        var pools: [Pool] = []
        var backupRefs: [(pool: String, target: String, node: YAMLNode)] = []
        let entries = reader.mapping(node, key: "pools", what: "a mapping of pool names to pools") ?? []
        for entry in entries {
            guard let name = reader.name(entry.keyNode, key: "pools.\(entry.key)") else { continue }
            let key = "pools.\(name)"
            guard let fields = reader.mapping(entry.value, key: key, allowed: Self.poolKeys, what: "a pool mapping")
            else {
                brokenPools.insert(name)
                continue
            }
            let values = Dictionary(fields.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
            var pool = Pool(name: name, servers: [])
            if let node = values["site"], let site = reader.name(node, key: "\(key).site") {
                if sites.contains(site) {
                    pool.site = site
                } else {
                    reader.fail(
                        .unknownReference, at: node, key: "\(key).site", "names no site \"\(site)\"",
                        expected: sites.isEmpty
                            ? "a site listed under sites:" : "one of " + sites.sorted().joined(separator: ", "))
                }
            }
            if let node = values["backup-pool"], let backup = reader.name(node, key: "\(key).backup-pool") {
                pool.backupPool = backup
                backupRefs.append((name, backup, node))
            }
            if let node = values["check"] {
                if case .scalar(let scalar) = node {
                    if let (check, _) = checks[scalar.string] {
                        pool.check = check
                    } else if brokenChecks.contains(scalar.string) {
                        // Its own errors are reported where it is defined.
                    } else {
                        reader.fail(
                            .unknownReference, at: node, key: "\(key).check", "names no check \"\(scalar.string)\"",
                            expected: checks.isEmpty
                                ? "a check defined under checks:, or an inline check mapping"
                                : "one of " + checks.keys.sorted().joined(separator: ", ")
                                    + ", or an inline check mapping")
                    }
                } else {
                    pool.check = readCheck(node, key: "\(key).check")
                }
            }
            if let node = values["servers"] {
                pool.servers = readServers(node, key: "\(key).servers", sites: sites)
            } else {
                reader.missing("servers", in: entry.value, key: key, expected: "a list of servers")
            }
            poolNodes[name] = values["check"] ?? entry.keyNode
            pools.append(pool)
        }
        let names = Set(pools.map(\.name))
        for ref in backupRefs {
            if ref.target == ref.pool {
                reader.fail(
                    .conflict, at: ref.node, key: "pools.\(ref.pool).backup-pool", "names the pool itself",
                    expected: "another pool, usually at another site")
            } else if !names.contains(ref.target) {
                reader.fail(
                    .unknownReference, at: ref.node, key: "pools.\(ref.pool).backup-pool",
                    "names no pool \"\(ref.target)\"", expected: "one of " + names.sorted().joined(separator: ", "))
            }
        }
        return pools
    }

    private mutating func readServers(_ node: YAMLNode, key: String, sites: Set<String>) -> [Server] {
        var servers: [Server] = []
        var names: Set<String> = []
        guard let items = reader.sequence(node, key: key, what: "a list of servers") else { return [] }
        if items.isEmpty {
            reader.fail(.invalidValue, at: node, key: key, "is empty", expected: "at least one server")
        }
        for (index, item) in items.enumerated() {
            let itemKey = "\(key)[\(index)]"
            var server: Server?
            if case .scalar(let scalar) = item {
                // Shorthand, as relayd tables are written: ADDRESS or ADDRESS:PORT, named after itself.
                let text = scalar.string.trimmingWhitespace()
                if let address = IPAddress(text) {
                    server = Server(name: text, address: address)
                } else if let endpoint = Endpoint(text) {
                    server = Server(name: text, address: endpoint.address, port: endpoint.port)
                } else {
                    reader.fail(
                        .invalidValue, at: item, key: itemKey, "\"\(text)\" is not an address",
                        expected: "ADDRESS, ADDRESS:PORT, or a mapping with name and address")
                }
            } else {
                server = readServer(item, key: itemKey, sites: sites)
            }
            guard let server else { continue }
            if !names.insert(server.name).inserted {
                reader.fail(
                    .duplicate, at: item, key: itemKey, "server name \"\(server.name)\" is used twice in this pool",
                    expected: "unique server names in a pool")
                continue
            }
            servers.append(server)
        }
        return servers
    }

    private mutating func readServer(_ node: YAMLNode, key: String, sites: Set<String>) -> Server? {
        guard let entries = reader.mapping(node, key: key, allowed: Self.serverKeys, what: "a server mapping") else {
            return nil
        }
        let values = Dictionary(entries.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        var ok = true
        guard let addressNode = values["address"] else {
            reader.missing("address", in: node, key: key, expected: "an IPv4 or IPv6 address")
            return nil
        }
        var address: IPAddress?
        var port: Int?
        if case .scalar(let scalar) = addressNode, let endpoint = Endpoint(scalar.string.trimmingWhitespace()) {
            address = endpoint.address
            port = endpoint.port
        } else {
            address = reader.address(addressNode, key: "\(key).address")
        }
        if let node = values["port"] {
            if port != nil {
                reader.fail(
                    .conflict, at: node, key: "\(key).port", "is given twice (also in address)",
                    expected: "the port either in address or in port")
                ok = false
            } else if let value = reader.int(node, key: "\(key).port", range: 1...65535) {
                port = value
            } else {
                ok = false
            }
        }
        var name = address.map { a in port.map { Endpoint(address: a, port: $0).description } ?? a.description }
        if let node = values["name"] {
            name = reader.name(node, key: "\(key).name")
            if name == nil { ok = false }
        }
        var weight = 1
        if let node = values["weight"] {
            if let value = reader.int(node, key: "\(key).weight", range: Server.weightRange) {
                weight = value
            } else {
                ok = false
            }
        }
        var backup = false
        if let node = values["backup"] {
            if let value = reader.bool(node, key: "\(key).backup") { backup = value } else { ok = false }
        }
        var site: String?
        if let node = values["site"] {
            site = reader.name(node, key: "\(key).site")
            if let name = site, !sites.contains(name) {
                reader.fail(
                    .unknownReference, at: node, key: "\(key).site", "names no site \"\(name)\"",
                    expected: sites.isEmpty
                        ? "a site listed under sites:" : "one of " + sites.sorted().joined(separator: ", "))
                ok = false
            }
            if site == nil { ok = false }
        }
        var unchecked = false
        if let node = values["check"] {
            guard case .scalar(let scalar) = node, scalar.string == "none" else {
                reader.fail(
                    .invalidValue, at: node, key: "\(key).check", "is \(reader.describe(node))",
                    expected: "none (the server is never probed and always in rotation); the pool names its check")
                return nil
            }
            unchecked = true
        }
        guard ok, let address, let name else { return nil }
        return Server(
            name: name, address: address, port: port, weight: weight, isBackup: backup, site: site, unchecked: unchecked
        )
    }

    private mutating func readRelays(_ node: YAMLNode, pools: [Pool]) -> [Relay] {
        var relays: [Relay] = []
        var listeners: [Endpoint: String] = [:]
        let poolNames = Set(pools.map(\.name))
        for entry in reader.mapping(node, key: "relays", what: "a mapping of relay names to relays") ?? [] {
            guard let name = reader.name(entry.keyNode, key: "relays.\(entry.key)") else { continue }
            let built = readRelay(entry.value, name: name, poolNames: poolNames)
            if built.isEmpty, case .mapping(let fields) = entry.value,
                let pool = fields.first(where: { $0.key.string == "pool" }), case .scalar(let scalar) = pool.value
            {
                poolsOfBrokenRelays.insert(scalar.string)
            }
            for relay in built {
                if let other = listeners[relay.listen] {
                    reader.fail(
                        .duplicate, at: entry.keyNode, key: "relays.\(name).listen",
                        "\(relay.listen) is also the listener of relay \(other)",
                        expected: "one relay per address and port")
                    continue
                }
                listeners[relay.listen] = relay.name
                relays.append(relay)
            }
        }
        return relays
    }

    private mutating func readRelay(_ node: YAMLNode, name: String, poolNames: Set<String>) -> [Relay] {
        let key = "relays.\(name)"
        guard let entries = reader.mapping(node, key: key, allowed: Self.relayKeys, what: "a relay mapping") else {
            return []
        }
        let values = Dictionary(entries.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        var ok = true
        let placeholder = Endpoint(address: IPAddress(v4: 0, 0, 0, 0), port: 1)
        var relay = Relay(name: name, listen: placeholder, pool: "")
        // What it speaks and its HTTP (or mail TLS) settings are read apart, then made its kind.
        var relayProtocol = RelayProtocol.tcp
        var http = HTTPSettings()

        // listen: ADDRESS:PORT, or ADDRESS with ports: [...] (one relay per port, as relayd configs do).
        var listenAddress: IPAddress?
        var ports: [Int] = []
        if let listenNode = values["listen"] {
            if case .scalar(let scalar) = listenNode, let endpoint = Endpoint(scalar.string.trimmingWhitespace()) {
                listenAddress = endpoint.address
                ports = [endpoint.port]
                if let portsNode = values["ports"] {
                    reader.fail(
                        .conflict, at: portsNode, key: "\(key).ports", "is given with a port in listen",
                        expected: "listen: ADDRESS:PORT, or listen: ADDRESS with ports: [...]")
                    ok = false
                }
            } else if case .scalar(let scalar) = listenNode, let address = IPAddress(scalar.string.trimmingWhitespace())
            {
                listenAddress = address
                if let portsNode = values["ports"] {
                    for (index, item)
                        in (reader.sequence(portsNode, key: "\(key).ports", what: "a list of ports") ?? [])
                        .enumerated()
                    {
                        if let port = reader.int(item, key: "\(key).ports[\(index)]", range: 1...65535) {
                            if ports.contains(port) {
                                reader.fail(
                                    .duplicate, at: item, key: "\(key).ports[\(index)]", "port \(port) is listed twice",
                                    expected: "each port once")
                            } else {
                                ports.append(port)
                            }
                        } else {
                            ok = false
                        }
                    }
                } else {
                    reader.fail(
                        .missingKey, at: listenNode, key: "\(key).listen", "has no port",
                        expected: "ADDRESS:PORT such as 10.0.0.10:443, or ports: [...] next to it")
                    ok = false
                }
            } else {
                _ = reader.endpoint(listenNode, key: "\(key).listen")
                ok = false
            }
        } else {
            reader.missing("listen", in: node, key: key, expected: "ADDRESS:PORT such as 10.0.0.10:443")
            ok = false
        }

        if let node = values["protocol"] {
            if let value = reader.choice(node, key: "\(key).protocol", of: RelayProtocol.self) {
                relayProtocol = value
            } else {
                ok = false
            }
        }
        if let node = values["pool"] {
            if let pool = reader.name(node, key: "\(key).pool") {
                if poolNames.contains(pool) {
                    relay.pool = pool
                } else if brokenPools.contains(pool) {
                    ok = false
                } else {
                    reader.fail(
                        .unknownReference, at: node, key: "\(key).pool", "names no pool \"\(pool)\"",
                        expected: poolNames.isEmpty
                            ? "a pool defined under pools:" : "one of " + poolNames.sorted().joined(separator: ", "))
                    ok = false
                }
            } else {
                ok = false
            }
        } else {
            reader.missing("pool", in: node, key: key, expected: "the name of a pool")
            ok = false
        }
        if let node = values["mode"] {
            if let value = reader.choice(node, key: "\(key).mode", of: BalancingMode.self) {
                relay.mode = value
            } else {
                ok = false
            }
        }
        if let node = values["persistence"] {
            if let value = readPersistence(node, key: "\(key).persistence") {
                if case .cookie = value, !relayProtocol.isHTTP {
                    reader.fail(
                        .conflict, at: node, key: "\(key).persistence", "cookie persistence needs an HTTP relay",
                        expected: "protocol: http or https, or persistence: source")
                    ok = false
                }
                relay.persistence = value
            } else {
                ok = false
            }
        }
        if !readHTTPSettings(values, key: key, protocol: relayProtocol, into: &http) { ok = false }
        if let node = values["timeouts"] {
            for entry in reader.mapping(node, key: "\(key).timeouts", allowed: Self.timeoutKeys, what: "a mapping")
                ?? []
            {
                guard let value = reader.duration(entry.value, key: "\(key).timeouts.\(entry.key)") else {
                    ok = false
                    continue
                }
                switch entry.key {
                case "connect": relay.timeouts.connect = value
                case "idle": relay.timeouts.idle = value
                case "handshake":
                    guard relayProtocol == .https || relayProtocol.isMail else {
                        reader.fail(
                            .conflict, at: entry.keyNode, key: "\(key).timeouts.handshake",
                            "applies only to relays that speak TLS with clients (https, imap, imaps, pop3, pop3s)",
                            expected: "connect or idle")
                        ok = false
                        continue
                    }
                    relay.timeouts.handshake = value
                case "login":
                    guard relayProtocol.isMail else {
                        reader.fail(
                            .conflict, at: entry.keyNode, key: "\(key).timeouts.login",
                            "applies only to mail relays (imap, imaps, pop3, pop3s)", expected: "connect or idle")
                        ok = false
                        continue
                    }
                    relay.timeouts.login = value
                default:
                    if !relayProtocol.isHTTP {
                        reader.fail(
                            .conflict, at: entry.keyNode, key: "\(key).timeouts.\(entry.key)",
                            "applies only to http and https relays", expected: "connect or idle")
                        ok = false
                    } else {
                        _ = readHTTPTimeout(entry.key, value, into: &http)
                    }
                }
            }
        }
        if let node = values["max-connections"] {
            if let value = reader.int(node, key: "\(key).max-connections", range: 1...1_000_000) {
                relay.maxConnections = value
            } else {
                ok = false
            }
        }
        if let node = values["forward-port"] {
            if let value = reader.int(node, key: "\(key).forward-port", range: 1...65535) {
                relay.forwardPort = value
            } else {
                ok = false
            }
        }
        if let node = values["proxy-protocol"] {
            if let value = reader.choice(node, key: "\(key).proxy-protocol", of: Relay.ProxyProtocol.self) {
                relay.proxyProtocol = value
            } else {
                ok = false
            }
        }
        if let node = values["accept-proxy-protocol"] {
            if let value = reader.bool(node, key: "\(key).accept-proxy-protocol") {
                relay.acceptProxyProtocol = value
            } else {
                ok = false
            }
        }
        guard ok, let listenAddress, !ports.isEmpty else { return [] }
        relay.kind = Self.kind(relayProtocol, http: http)
        if relayProtocol.isMail, relay.forwardPort == nil { relay.forwardPort = relayProtocol.defaultServerPort }
        if ports.count == 1 && values["ports"] == nil {
            relay.listen = Endpoint(address: listenAddress, port: ports[0])
            return [relay]
        }
        return ports.map { port in
            var copy = relay
            copy.name = "\(name)-\(port)"
            copy.listen = Endpoint(address: listenAddress, port: port)
            return copy
        }
    }

    /// A relay's kind from its protocol and the settings read for it: HTTP settings for http and
    /// https, the certificates alone for mail relays, nothing for tcp.
    static func kind(_ relayProtocol: RelayProtocol, http: HTTPSettings) -> Relay.Kind {
        switch relayProtocol {
        case .tcp: .tcp
        case .http: .http(http)
        case .https: .https(http)
        case .imap: .mail(MailSettings(dialect: .imap, certificates: http.certificates))
        case .imaps: .mail(MailSettings(dialect: .imap, implicitTLS: true, certificates: http.certificates))
        case .pop3: .mail(MailSettings(dialect: .pop3, certificates: http.certificates))
        case .pop3s: .mail(MailSettings(dialect: .pop3, implicitTLS: true, certificates: http.certificates))
        }
    }

    private mutating func readPersistence(_ node: YAMLNode, key: String) -> Persistence? {
        if case .scalar = node {
            guard let type = reader.choice(node, key: key, of: PersistenceType.self) else { return nil }
            if type == .cookie {
                reader.fail(
                    .missingKey, at: node, key: "\(key).key", "cookie persistence needs a signing key",
                    expected: "persistence: {type: cookie, key: A-SECRET-OF-16-OR-MORE-CHARACTERS}")
                return nil
            }
            return type == .none ? Persistence.none : Persistence.defaultSourceAddress
        }
        guard
            let entries = reader.mapping(
                node, key: key, allowed: Self.persistenceKeys, what: "none, source, or a mapping")
        else {
            return nil
        }
        let values = Dictionary(entries.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        guard let typeNode = values["type"] else {
            reader.missing("type", in: node, key: key, expected: "none or source")
            return nil
        }
        guard let type = reader.choice(typeNode, key: "\(key).type", of: PersistenceType.self) else { return nil }
        if type == .cookie {
            for entry in entries where ["timeout", "size"].contains(entry.key) {
                reader.fail(
                    .conflict, at: entry.keyNode, key: "\(key).\(entry.key)", "applies only to type: source",
                    expected: "name, key, secure, http-only, same-site or path")
            }
            return readCookie(node, values: values.filter { $0.key != "type" }, key: key).map { .cookie($0) }
        }
        for entry in entries where Self.cookieKeys.contains(entry.key) && entry.key != "type" {
            reader.fail(
                .conflict, at: entry.keyNode, key: "\(key).\(entry.key)", "applies only to type: cookie",
                expected: "type: cookie, or no \(entry.key)")
            return nil
        }
        if type == .none {
            for entry in entries where entry.key != "type" {
                reader.fail(
                    .conflict, at: entry.keyNode, key: "\(key).\(entry.key)", "applies only to type: source",
                    expected: "type: source, or no \(entry.key)")
            }
            return Persistence.none
        }
        guard case .sourceAddress(var timeout, var capacity) = Persistence.defaultSourceAddress else { return nil }
        var ok = true
        if let node = values["timeout"] {
            if let value = reader.duration(node, key: "\(key).timeout", minimum: .seconds(1)) {
                timeout = value
            } else {
                ok = false
            }
        }
        if let node = values["size"] {
            if let value = reader.int(node, key: "\(key).size", range: 1...10_000_000) {
                capacity = value
            } else {
                ok = false
            }
        }
        return ok ? .sourceAddress(timeout: timeout, capacity: capacity) : nil
    }
}
