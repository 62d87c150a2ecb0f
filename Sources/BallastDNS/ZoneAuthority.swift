public import BallastCodecs
import BallastCore

/// Answers queries with authority from a `DNSView`: pure, so every rule of RFC 1034, 2308,
/// 6891 and 8482 that it follows is tested without a socket.
public enum ZoneAuthority {
    /// How the query came, which bounds the answer's size.
    public enum Transport: Sendable {
        case udp
        case tcp
    }

    /// The UDP payload size Ballast offers in its OPT record (the DNS flag day 2020 value).
    public static let advertisedPayloadSize: UInt16 = 1232
    /// Longest CNAME chain followed inside a zone.
    static let maxChain = 8

    /// The response to `query`, or nil when nothing should be sent (a response, say).
    /// `rotation` turns the order of pool-bound address sets.
    public static func answer(
        _ query: DNSMessage, view: DNSView, transport: Transport, rotation: Int = 0
    ) -> DNSMessage? {
        guard !query.isResponse else { return nil }
        var response = DNSMessage(id: query.id)
        response.isResponse = true
        response.opcode = query.opcode
        response.recursionDesired = query.recursionDesired
        response.questions = query.questions
        // RFC 3225 section 3: DO is copied into the answer; nothing is signed, so nothing else changes.
        if let edns = query.edns {
            response.edns = EDNS(udpPayloadSize: advertisedPayloadSize, dnssecOK: edns.dnssecOK)
        }
        if let edns = query.edns, edns.version > 0 {
            response.rcode = DNSRCode.badVers
            return response
        }
        guard query.opcode == DNSOpcode.query else {
            response.rcode = DNSRCode.notImp
            return response
        }
        guard query.questions.count == 1, let question = query.questions.first else {
            response.rcode = DNSRCode.formErr
            return response
        }
        guard question.dnsClass == 1 || question.dnsClass == 255, let zone = view.zone(for: question.name) else {
            response.rcode = DNSRCode.refused
            return response
        }
        response.authoritative = true
        if question.type == DNSType.axfr || question.type == DNSType.ixfr {
            // Transfers go over TCP to the secondaries only; the server handles those itself.
            response.rcode = DNSRCode.refused
            return response
        }
        resolve(question, in: zone, rotation: rotation, into: &response)
        return response
    }

    /// The largest response `query` may get over `transport`.
    public static func sizeLimit(for query: DNSMessage, transport: Transport) -> Int {
        switch transport {
        case .tcp: return 65535
        case .udp:
            guard let edns = query.edns else { return 512 }
            return Int(min(max(edns.udpPayloadSize, 512), 4096))
        }
    }

    static func resolve(_ question: DNSQuestion, in zone: ZoneView, rotation: Int, into response: inout DNSMessage) {
        var name = question.name.folded
        var seen: Set<DomainName> = []
        for _ in 0..<maxChain {
            guard zone.exists(name) else {
                response.rcode = DNSRCode.nxDomain
                response.authorities = [negative(zone)]
                return
            }
            let node = zone.nodes[name] ?? [:]
            if let cname = node[DNSType.cname], question.type != DNSType.cname {
                guard seen.insert(name).inserted else { return }
                response.answers += records(cname, owner: name, rotation: 0)
                guard case .cname(let target) = cname.data.first, target.isSubdomain(of: zone.zone.name) else { return }
                name = target.folded
                continue
            }
            if question.type == DNSType.any {
                // RFC 8482: one RRset stands for all of them, the smallest, so that ANY is no
                // lever for amplification.
                if let (type, set) = node.min(by: { (wireSize($0.value), $0.key) < (wireSize($1.value), $1.key) }) {
                    response.answers += records(set, owner: name, rotation: type == DNSType.soa ? 0 : rotation)
                } else {
                    response.authorities = [negative(zone)]
                }
                return
            }
            guard let set = node[question.type] else {
                response.authorities = [negative(zone)]
                return
            }
            response.answers += records(set, owner: name, rotation: rotation)
            response.additionals = additionals(for: response.answers, in: zone)
            return
        }
    }

    /// About the bytes an RRset takes in an answer: enough to pick the smallest.
    static func wireSize(_ set: RRSet) -> Int {
        set.data.reduce(0) { total, data in
            let rdata: Int
            switch data {
            case .a: rdata = 4
            case .aaaa: rdata = 16
            case .ns(let name), .cname(let name): rdata = name.wireLength
            case .soa(let primary, let mailbox, _, _, _, _, _): rdata = primary.wireLength + mailbox.wireLength + 20
            case .mx(_, let exchange): rdata = 2 + exchange.wireLength
            case .txt(let strings): rdata = strings.reduce(0) { $0 + 1 + $1.count }
            case .srv(_, _, _, let target): rdata = 6 + target.wireLength
            case .unknown(_, let bytes): rdata = bytes.count
            }
            return total + 12 + rdata
        }
    }

    /// The SOA for a negative answer, its TTL the lesser of its own and the minimum (RFC 2308).
    static func negative(_ zone: ZoneView) -> DNSRecord {
        var soa = zone.soaRecord
        soa.ttl = min(soa.ttl, zone.zone.soa.minimum)
        return soa
    }

    static func records(_ set: RRSet, owner: DomainName, rotation: Int) -> [DNSRecord] {
        var data = set.data
        if set.rotates && data.count > 1 {
            let shift = rotation % data.count
            data = Array(data[shift...] + data[..<shift])
        }
        return data.map { DNSRecord(name: owner, ttl: set.ttl, data: $0) }
    }

    /// Addresses of the in-zone targets of SRV, MX and NS answers.
    static func additionals(for answers: [DNSRecord], in zone: ZoneView) -> [DNSRecord] {
        var targets: [DomainName] = []
        for record in answers {
            switch record.data {
            case .srv(_, _, _, let target), .mx(_, let target), .ns(let target):
                if target.isSubdomain(of: zone.zone.name) && !targets.contains(target.folded) {
                    targets.append(target.folded)
                }
            default: break
            }
        }
        var out: [DNSRecord] = []
        for target in targets {
            for type in [DNSType.a, DNSType.aaaa] {
                if let set = zone.nodes[target]?[type] { out += records(set, owner: target, rotation: 0) }
            }
        }
        return out
    }
}
