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

    static let statusForm = "a status such as 200, or a range such as 200-399"

    /// What a reference to a site may name.
    static func siteForm(_ sites: Set<String>) -> String {
        sites.isEmpty ? "a site listed under sites:" : "one of " + sites.sorted().joined(separator: ", ")
    }

    enum CheckType: String, CaseIterable {
        case tcp, tls, http, https
        case sipOptions = "sip-options"
    }

    enum PersistenceType: String, CaseIterable {
        case none, source, cookie
    }

    mutating func build(_ root: YAMLNode) -> Topology? {
        guard let top = reader.fields(root, key: "", section: TopKeys.section) else { return nil }
        let section = Dictionary(top.entries.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        var topology = Topology()
        if let node = top.entry(TopKeys.node) { topology.node = readNode(node.value) }
        if let admin = top.entry(TopKeys.admin) { topology.admin = readAdmin(admin.value) }
        if let sites = top.entry(TopKeys.sites) { topology.sites = readSites(sites.value) }
        var checks: [String: (Check, YAMLNode)] = [:]
        if let section = top.entry(TopKeys.checks) { checks = readChecks(section.value) }
        if let pools = top.entry(TopKeys.pools) {
            topology.pools = readPools(pools.value, checks: checks, sites: Set(topology.sites.map(\.name)))
        }
        if let relays = top.entry(TopKeys.relays) {
            topology.relays = readRelays(relays.value, pools: topology.pools)
        } else if top.entry(TopKeys.pools) != nil {
            // Pools without relays are legal (later: DNS and SIP use them), nothing to say.
        }
        if let dns = top.entry(TopKeys.dns) { topology.dns = readDNS(dns.value) }
        if let zones = top.entry(TopKeys.zones) { topology.zones = readZones(zones.value, pools: topology.pools) }
        if !topology.zones.isEmpty && topology.dns.listeners.isEmpty, let zones = top.entry(TopKeys.zones) {
            reader.fail(
                .missingKey, at: zones.keyNode, key: "dns.listen", "is missing: zones need a DNS listener",
                expected: "dns: {listen: [ADDRESS:53]}")
        }
        if let sip = top.entry(TopKeys.sip) { topology.sip = readSIP(sip.value, pools: topology.pools) }
        if let store = top.entry(TopKeys.store) { topology.store = readStore(store.value, sip: topology.sip) }
        if let witness = top.entry(TopKeys.witness) {
            topology.witness = readWitness(witness.value)
            if topology.store == nil || topology.sites.count < 2 {
                reader.fail(
                    .conflict, at: witness.keyNode, key: "witness", "needs a store and two sites to fail over between",
                    expected: "a store section and two sites, or no witness")
            }
        }
        if let backup = top.entry(TopKeys.backup) {
            topology.backup = readBackup(backup.value)
            if topology.store == nil {
                reader.fail(
                    .conflict, at: backup.keyNode, key: "backup", "needs a store to back up",
                    expected: "a store section, or no backup section")
            }
        }
        if topology.store != nil, topology.sip?.usersFile != nil, let sip = top.entry(TopKeys.sip) {
            reader.fail(
                .conflict, at: sip.keyNode, key: "sip.users-file",
                "cannot be used with a store: users come from the store",
                expected: "no users-file; load it once with `ballast users import FILE`")
        }
        validateProbePorts(topology)
        validateListeners(topology, sections: section.mapValues(\.keyNode))
        if top.entry(TopKeys.pools) == nil && top.entry(TopKeys.relays) == nil && top.entry(TopKeys.zones) == nil
            && top.entry(TopKeys.sip) == nil
        {
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
        guard var fields = reader.fields(node, key: "node", section: NodeKeys.section) else { return settings }
        if let value = reader.read(NodeKeys.shutdownGrace, in: &fields) { settings.shutdownGrace = value }
        return settings
    }

    private mutating func readAdmin(_ node: YAMLNode) -> Topology.Admin? {
        guard var fields = reader.fields(node, key: "admin", section: AdminKeys.section) else { return nil }
        let token = reader.read(AdminKeys.token, in: &fields)
        let listen = reader.require(AdminKeys.listen, in: &fields, expected: "ADDRESS:PORT such as 127.0.0.1:9900")
        guard fields.has(AdminKeys.listen) else { return nil }
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
            if var fields = reader.fields(entry.value, key: "sites.\(entry.key)", section: SiteKeys.section) {
                holdDown = reader.read(SiteKeys.holdDown, in: &fields)
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
        guard var fields = reader.fields(node, key: key, section: CheckKeys.section) else { return nil }
        guard let type = reader.require(CheckKeys.type, in: &fields) else { return nil }
        reader.refuseInapplicable(&fields, section: CheckKeys.section, kind: type.rawValue)
        var check = Check()
        if let value = reader.read(CheckKeys.port, in: &fields) { check.port = value }
        if let value = reader.read(CheckKeys.interval, in: &fields) { check.interval = value }
        if let value = reader.read(CheckKeys.timeout, in: &fields) { check.timeout = value }
        if let value = reader.read(CheckKeys.rise, in: &fields) { check.rise = value }
        if let value = reader.read(CheckKeys.fall, in: &fields) { check.fall = value }
        var tls = Check.TLSProbe()
        if let value = reader.read(CheckKeys.verify, in: &fields) { tls.verify = value }
        if let value = reader.read(CheckKeys.caFile, in: &fields) {
            tls.caFile = value
            tls.verify = fields.has(CheckKeys.verify) ? tls.verify : true
        }
        if let value = reader.read(CheckKeys.serverName, in: &fields) { tls.serverName = value }
        var sip = Check.SIPProbe()
        if let value = reader.read(CheckKeys.transport, in: &fields) { sip.transport = value }
        var http = Check.HTTPProbe()
        if let value = reader.read(CheckKeys.path, in: &fields) {
            if value.hasPrefix("/"), !value.contains(where: { $0 == " " || $0 == "\r" || $0 == "\n" }) {
                http.path = value
            } else {
                reader.refuse(
                    CheckKeys.path, in: &fields, "is not a request path",
                    expected: "a path starting with / and without spaces")
            }
        }
        if let value = reader.read(CheckKeys.host, in: &fields) { http.host = value }
        if let node = fields[CheckKeys.expectStatus] {
            if let range = readStatusRange(node, key: fields.path(CheckKeys.expectStatus)) {
                http.expectStatus = range
                sip.expectStatus = range
            } else {
                fields.failed = true
            }
        }
        if let value = reader.read(CheckKeys.expectBody, in: &fields) { http.expectBody = value }
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
                .conflict, at: fields[CheckKeys.timeout] ?? node, key: fields.path(CheckKeys.timeout),
                "\(DurationParser.format(check.timeout)) is longer than the interval \(DurationParser.format(check.interval))",
                expected: "a timeout no longer than the interval")
            fields.failed = true
        }
        return fields.failed ? nil : check
    }

    private mutating func readStatusRange(_ node: YAMLNode, key: String) -> ClosedRange<Int>? {
        let expected = Self.statusForm
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
            guard var fields = reader.fields(entry.value, key: key, section: PoolKeys.section) else {
                brokenPools.insert(name)
                continue
            }
            var pool = Pool(name: name, servers: [])
            if let site = reader.read(PoolKeys.site, in: &fields) {
                if sites.contains(site) {
                    pool.site = site
                } else {
                    reader.refuse(
                        PoolKeys.site, in: &fields, "names no site \"\(site)\"", expected: Self.siteForm(sites),
                        code: .unknownReference)
                }
            }
            if let backup = reader.read(PoolKeys.backupPool, in: &fields), let node = fields[PoolKeys.backupPool] {
                pool.backupPool = backup
                backupRefs.append((name, backup, node))
            }
            if let node = fields[PoolKeys.check] {
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
            if let node = reader.require(PoolKeys.servers, in: &fields) {
                pool.servers = readServers(node, key: fields.path(PoolKeys.servers), sites: sites)
            }
            poolNodes[name] = fields[PoolKeys.check] ?? entry.keyNode
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
        guard var fields = reader.fields(node, key: key, section: ServerKeys.section),
            let addressNode = reader.require(ServerKeys.address, in: &fields)
        else { return nil }
        var address: IPAddress?
        var port: Int?
        if case .scalar(let scalar) = addressNode, let endpoint = Endpoint(scalar.string.trimmingWhitespace()) {
            address = endpoint.address
            port = endpoint.port
        } else {
            address = reader.address(addressNode, key: fields.path(ServerKeys.address))
        }
        if let node = fields[ServerKeys.port] {
            if port != nil {
                reader.fail(
                    .conflict, at: node, key: fields.path(ServerKeys.port), "is given twice (also in address)",
                    expected: "the port either in address or in port")
                fields.failed = true
            } else {
                port = reader.read(ServerKeys.port, in: &fields)
            }
        }
        var name = address.map { a in port.map { Endpoint(address: a, port: $0).description } ?? a.description }
        if fields.has(ServerKeys.name) { name = reader.read(ServerKeys.name, in: &fields) }
        let weight = reader.read(ServerKeys.weight, in: &fields) ?? 1
        let backup = reader.read(ServerKeys.backup, in: &fields) ?? false
        let site = reader.read(ServerKeys.site, in: &fields)
        if let site, !sites.contains(site) {
            reader.refuse(
                ServerKeys.site, in: &fields, "names no site \"\(site)\"", expected: Self.siteForm(sites),
                code: .unknownReference)
        }
        var unchecked = false
        if let node = fields[ServerKeys.check] {
            guard case .scalar(let scalar) = node, scalar.string == "none" else {
                reader.fail(
                    .invalidValue, at: node, key: fields.path(ServerKeys.check), "is \(reader.describe(node))",
                    expected: ServerKeys.check.declaration.expected)
                return nil
            }
            unchecked = true
        }
        guard !fields.failed, let address, let name else { return nil }
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

    /// The keys a relay mapping takes: every protocol's, and those of HTTP relays.
    static let relaySection = RelayKeys.section.adding(HTTPRelayKeys.section)

    private mutating func readRelay(_ node: YAMLNode, name: String, poolNames: Set<String>) -> [Relay] {
        let key = "relays.\(name)"
        guard var fields = reader.fields(node, key: key, section: Self.relaySection) else { return [] }
        let placeholder = Endpoint(address: IPAddress(v4: 0, 0, 0, 0), port: 1)
        var relay = Relay(name: name, listen: placeholder, pool: "")
        // What it speaks and its HTTP (or mail TLS) settings are read apart, then made its kind.
        var relayProtocol = RelayProtocol.tcp
        var http = HTTPSettings()
        var mailTimeouts = MailSettings.Timeouts()

        // listen: ADDRESS:PORT, or ADDRESS with ports: [...] (one relay per port, as relayd configs do).
        var listenAddress: IPAddress?
        var ports: [Int] = []
        if let listenNode = fields[RelayKeys.listen] {
            if case .scalar(let scalar) = listenNode, let endpoint = Endpoint(scalar.string.trimmingWhitespace()) {
                listenAddress = endpoint.address
                ports = [endpoint.port]
                if let portsNode = fields[RelayKeys.ports] {
                    reader.fail(
                        .conflict, at: portsNode, key: "\(key).ports", "is given with a port in listen",
                        expected: "listen: ADDRESS:PORT, or listen: ADDRESS with ports: [...]")
                    fields.failed = true
                }
            } else if case .scalar(let scalar) = listenNode, let address = IPAddress(scalar.string.trimmingWhitespace())
            {
                listenAddress = address
                if let portsNode = fields[RelayKeys.ports] {
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
                            fields.failed = true
                        }
                    }
                } else {
                    reader.fail(
                        .missingKey, at: listenNode, key: "\(key).listen", "has no port",
                        expected: "ADDRESS:PORT such as 10.0.0.10:443, or ports: [...] next to it")
                    fields.failed = true
                }
            } else {
                _ = reader.endpoint(listenNode, key: "\(key).listen")
                fields.failed = true
            }
        } else {
            _ = reader.require(RelayKeys.listen, in: &fields)
        }

        if let value = reader.read(RelayKeys.relayProtocol, in: &fields) {
            relayProtocol = value
        }
        reader.refuseInapplicable(&fields, section: Self.relaySection, kind: relayProtocol.rawValue)
        if let pool = reader.require(RelayKeys.pool, in: &fields, expected: "the name of a pool") {
            if poolNames.contains(pool) {
                relay.pool = pool
            } else if brokenPools.contains(pool) {
                fields.failed = true
            } else {
                reader.refuse(
                    RelayKeys.pool, in: &fields, "names no pool \"\(pool)\"",
                    expected: poolNames.isEmpty
                        ? "a pool defined under pools:" : "one of " + poolNames.sorted().joined(separator: ", "),
                    code: .unknownReference)
            }
        }
        if let value = reader.read(RelayKeys.mode, in: &fields) {
            relay.mode = value
        }
        if let node = fields[RelayKeys.persistence] {
            if let value = readPersistence(node, key: "\(key).persistence") {
                if case .cookie = value, !relayProtocol.isHTTP {
                    reader.fail(
                        .conflict, at: node, key: "\(key).persistence", "cookie persistence needs an HTTP relay",
                        expected: "protocol: http or https, or persistence: source")
                    fields.failed = true
                }
                relay.persistence = value
            } else {
                fields.failed = true
            }
        }
        readHTTPSettings(&fields, protocol: relayProtocol, into: &http)
        if let node = fields.mapping(containing: RelayKeys.connectTimeout) {
            if var timeouts = reader.fields(
                node, key: "\(key).timeouts", section: Self.relaySection, under: "timeouts", form: "a mapping")
            {
                reader.refuseInapplicable(&timeouts, section: Self.relaySection, kind: relayProtocol.rawValue)
                if let value = reader.read(RelayKeys.connectTimeout, in: &timeouts) { relay.timeouts.connect = value }
                if let value = reader.read(RelayKeys.idleTimeout, in: &timeouts) { relay.timeouts.idle = value }
                if let value = reader.read(RelayKeys.handshakeTimeout, in: &timeouts) {
                    http.timeouts.handshake = value
                    mailTimeouts.handshake = value
                }
                if let value = reader.read(RelayKeys.loginTimeout, in: &timeouts) { mailTimeouts.login = value }
                readHTTPTimeouts(&timeouts, into: &http)
                if timeouts.failed { fields.failed = true }
            } else {
                fields.failed = true
            }
        }
        if let value = reader.read(RelayKeys.maxConnections, in: &fields) {
            relay.maxConnections = value
        }
        if let value = reader.read(RelayKeys.forwardPort, in: &fields) {
            relay.forwardPort = value
        }
        if let value = reader.read(RelayKeys.proxyProtocol, in: &fields) {
            relay.proxyProtocol = value
        }
        if let value = reader.read(RelayKeys.acceptProxyProtocol, in: &fields) {
            relay.acceptProxyProtocol = value
        }
        guard !fields.failed, let listenAddress, !ports.isEmpty else { return [] }
        relay.kind = Self.kind(relayProtocol, http: http, mailTimeouts: mailTimeouts)
        if relayProtocol.isMail, relay.forwardPort == nil { relay.forwardPort = relayProtocol.defaultServerPort }
        if ports.count == 1 && fields[RelayKeys.ports] == nil {
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
    /// https, the certificates and the handshake and login timeouts for mail relays, nothing for tcp.
    static func kind(
        _ relayProtocol: RelayProtocol, http: HTTPSettings, mailTimeouts: MailSettings.Timeouts = .init()
    ) -> Relay.Kind {
        func mail(_ dialect: MailSettings.Dialect, implicitTLS: Bool) -> Relay.Kind {
            .mail(
                MailSettings(
                    dialect: dialect, implicitTLS: implicitTLS, certificates: http.certificates, timeouts: mailTimeouts)
            )
        }
        switch relayProtocol {
        case .tcp: return .tcp
        case .http: return .http(http)
        case .https: return .https(http)
        case .imap: return mail(.imap, implicitTLS: false)
        case .imaps: return mail(.imap, implicitTLS: true)
        case .pop3: return mail(.pop3, implicitTLS: false)
        case .pop3s: return mail(.pop3, implicitTLS: true)
        }
    }

    /// The keys a persistence mapping takes: source affinity's and the cookie's.
    static let persistenceSection = PersistenceKeys.section.adding(CookieKeys.section)

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
        guard var fields = reader.fields(node, key: key, section: Self.persistenceSection),
            let type = reader.require(PersistenceKeys.type, in: &fields, expected: "none or source")
        else { return nil }
        reader.refuseInapplicable(&fields, section: Self.persistenceSection, kind: type.rawValue)
        switch type {
        case .none:
            return fields.failed ? nil : Persistence.none
        case .cookie:
            return readCookie(&fields).map { .cookie($0) }
        case .source:
            guard case .sourceAddress(var timeout, var capacity) = Persistence.defaultSourceAddress else { return nil }
            if let value = reader.read(PersistenceKeys.timeout, in: &fields) { timeout = value }
            if let value = reader.read(PersistenceKeys.size, in: &fields) { capacity = value }
            return fields.failed ? nil : .sourceAddress(timeout: timeout, capacity: capacity)
        }
    }
}
