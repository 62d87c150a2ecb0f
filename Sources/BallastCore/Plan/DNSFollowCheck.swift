/// What a plan's "check DNS" step expects the DNS listener to answer once a site is fenced
/// (failover) or back (failback): for every record bound to one of the site's pools, the answers
/// that name the site (its servers' addresses, its SRV targets) are gone, or back. The step asks
/// the listener itself, so it reports what clients get, not what the node computed.
public struct DNSFollowCheck: Sendable, Equatable {
    /// The record type asked.
    public enum Kind: String, Sendable, Hashable {
        case a = "A", aaaa = "AAAA", srv = "SRV"
    }

    /// One question and the answers to it that name the site.
    public struct Probe: Sendable, Hashable, CustomStringConvertible {
        public var name: DomainName
        public var kind: Kind
        /// Answers in text form (an address, or `PRIORITY WEIGHT PORT TARGET`) that name the site.
        public var siteAnswers: Set<String>

        public var description: String { "\(name) \(kind.rawValue)" }
    }

    /// One question per name and type bound to the site's pools.
    public var probes: [Probe]
    /// True after a failover: no answer may name the site. False after a failback: one must.
    public var siteIsOut: Bool

    /// The check for `site` after a failover (`failover`) or a failback.
    public init(topology: Topology, site: String, failover: Bool) {
        siteIsOut = failover
        let pools = Dictionary(
            topology.pools.filter { $0.site == site }.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var found: [Probe] = []
        func add(_ name: DomainName, _ kind: Kind, _ answers: Set<String>) {
            guard !answers.isEmpty else { return }
            if let index = found.firstIndex(where: { $0.name == name && $0.kind == kind }) {
                found[index].siteAnswers.formUnion(answers)
            } else {
                found.append(Probe(name: name, kind: kind, siteAnswers: answers))
            }
        }
        for record in topology.zones.flatMap(\.records) {
            switch record.value {
            case .pool(let name):
                guard let pool = pools[name] else { continue }
                let servers = pool.servers.filter { !$0.isBackup }
                add(record.name, .a, Set(servers.map(\.address).filter { $0.family == .v4 }.map(\.description)))
                add(record.name, .aaaa, Set(servers.map(\.address).filter { $0.family == .v6 }.map(\.description)))
            case .srv(let priority, let weight, let port, let target, let pool?):
                guard pools[pool] != nil else { continue }
                add(record.name, .srv, ["\(priority) \(weight) \(port) \(target)"])
            default:
                continue
            }
        }
        probes = found
    }

    /// Whether `answers` to `probe` show the change.
    public func isMet(_ probe: Probe, answers: [String]) -> Bool {
        let naming = !probe.siteAnswers.isDisjoint(with: answers)
        return siteIsOut ? !naming : naming
    }
}
