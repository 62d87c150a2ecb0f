import BallastCodecs
import BallastCore
import Testing

@testable import BallastDNS

/// The answer rules, over views of states built in the test: no socket.
@Suite struct ZoneAuthorityTests {
    static let zoneName = DomainName("contoso.com")!

    static func name(_ text: String) -> DomainName { DomainName(text)! }

    static func topology(allDown: Zone.AllDownPolicy = .all) -> Topology {
        let check = Check(kind: .tcp, port: 5061)
        let pools = [
            Pool(
                name: "fe", check: check,
                servers: (1...3).map { Server(name: "fe\($0)", address: IPAddress(v4: 10, 0, 1, UInt8($0))) }),
            Pool(name: "dr", check: check, servers: [Server(name: "dr1", address: IPAddress(v4: 10, 0, 2, 1))]),
        ]
        let zone = Zone(
            name: zoneName,
            soa: Zone.SOA(primary: name("ns1.contoso.com"), mailbox: name("hostmaster.contoso.com"), minimum: 30),
            ttl: 300,
            records: [
                ZoneRecord(name: name("ns1.contoso.com"), ttl: 300, value: .a(IPAddress(v4: 10, 0, 0, 53))),
                ZoneRecord(name: name("pool01.contoso.com"), ttl: 30, value: .pool("fe")),
                ZoneRecord(name: name("pool02.contoso.com"), ttl: 30, value: .pool("dr")),
                ZoneRecord(
                    name: name("_sip._tls.contoso.com"), ttl: 30,
                    value: .srv(priority: 0, weight: 10, port: 5061, target: name("pool01.contoso.com"), pool: "fe")),
                ZoneRecord(
                    name: name("_sip._tls.contoso.com"), ttl: 30,
                    value: .srv(priority: 10, weight: 10, port: 5061, target: name("pool02.contoso.com"), pool: "dr")),
                ZoneRecord(name: zoneName, ttl: 300, value: .mx(preference: 10, exchange: name("mail.contoso.com"))),
                ZoneRecord(name: name("mail.contoso.com"), ttl: 300, value: .a(IPAddress(v4: 10, 0, 0, 25))),
                ZoneRecord(name: name("www.contoso.com"), ttl: 300, value: .cname(name("web.contoso.com"))),
                ZoneRecord(name: name("web.contoso.com"), ttl: 300, value: .cname(name("pool01.contoso.com"))),
                ZoneRecord(name: name("ext.contoso.com"), ttl: 300, value: .cname(name("example.net"))),
                ZoneRecord(name: name("loop1.contoso.com"), ttl: 300, value: .cname(name("loop2.contoso.com"))),
                ZoneRecord(name: name("loop2.contoso.com"), ttl: 300, value: .cname(name("loop1.contoso.com"))),
                ZoneRecord(name: name("host.deep.contoso.com"), ttl: 300, value: .txt([Array("x".utf8)])),
                ZoneRecord(name: name("big.contoso.com"), ttl: 300, value: .txt([Array(repeating: 97, count: 200)])),
                ZoneRecord(name: name("big.contoso.com"), ttl: 300, value: .txt([Array(repeating: 98, count: 200)])),
                ZoneRecord(name: name("big.contoso.com"), ttl: 300, value: .a(IPAddress(v4: 10, 0, 0, 80))),
            ],
            allDown: allDown)
        return Topology(pools: pools, zones: [zone])
    }

    /// A published state with every server up except `down`.
    static func published(down: [String] = [], allDown: Zone.AllDownPolicy = .all) -> PublishedState {
        let published = PublishedState(topology: topology(allDown: allDown))
        for pool in published.current.topology.pools {
            for server in pool.servers {
                let key = ProbeKey(server: ServerKey(pool: pool.name, server: server.name), port: 5061)
                let health = ServerHealth(
                    status: down.contains(server.name) ? .down : .up, since: .now, lastResult: "test")
                _ = published.setHealth(health, for: key)
            }
        }
        return published
    }

    func ask(
        _ text: String, _ type: UInt16, published: PublishedState = ZoneAuthorityTests.published(), edns: EDNS? = nil,
        transport: ZoneAuthority.Transport = .udp, rotation: Int = 0
    ) -> DNSMessage {
        var query = DNSMessage(id: 77)
        query.recursionDesired = true
        query.questions = [DNSQuestion(name: Self.name(text), type: type)]
        query.edns = edns
        let view = DNSView(state: published.current, previous: nil, now: 1000)
        return ZoneAuthority.answer(query, view: view, transport: transport, rotation: rotation)!
    }

    func addresses(_ message: DNSMessage) -> [String] {
        message.answers.compactMap { if case .a(let address) = $0.data { return "\(address)" } else { return nil } }
    }

    @Test func poolBoundAddressesFollowHealthAndRotate() {
        let all = ask("pool01.contoso.com", DNSType.a)
        #expect(all.authoritative && all.rcode == DNSRCode.noError && all.id == 77 && all.recursionDesired)
        #expect(Set(addresses(all)) == ["10.0.1.1", "10.0.1.2", "10.0.1.3"])
        #expect(all.answers.allSatisfy { $0.ttl == 30 })
        #expect(addresses(ask("pool01.contoso.com", DNSType.a, rotation: 1)).first != addresses(all).first)
        let one = ask("pool01.contoso.com", DNSType.a, published: Self.published(down: ["fe2", "fe3"]))
        #expect(addresses(one) == ["10.0.1.1"])
    }

    @Test func aPoolAllDownAnswersAllOrNothingByPolicy() {
        let everyone = ask("pool01.contoso.com", DNSType.a, published: Self.published(down: ["fe1", "fe2", "fe3"]))
        #expect(addresses(everyone).count == 3)
        let nobody = ask(
            "pool01.contoso.com", DNSType.a, published: Self.published(down: ["fe1", "fe2", "fe3"], allDown: .none))
        #expect(nobody.rcode == DNSRCode.noError && nobody.answers.isEmpty)
        #expect(nobody.authorities.first?.type == DNSType.soa)
    }

    /// A pool whose servers are at two sites: a fenced site's servers leave its answers, also
    /// when the rest is down and the policy answers with everyone.
    @Test func aFencedSitesServersLeaveAPoolSpanningSites() {
        var topology = Self.topology()
        topology.sites = [Site(name: "hq"), Site(name: "dr")]
        topology.pools[0].servers[0].site = "dr"
        for index in 1...2 { topology.pools[0].servers[index].site = "hq" }
        let published = PublishedState(topology: topology)
        published.replaceDirectory(Directory(fencedSites: ["hq": "2026-12-03T10:00:00.000Z"]))
        func answer() -> [String] {
            let view = DNSView(state: published.current, previous: nil, now: 1000)
            var query = DNSMessage(id: 1)
            query.questions = [DNSQuestion(name: Self.name("pool01.contoso.com"), type: DNSType.a)]
            return addresses(ZoneAuthority.answer(query, view: view, transport: .udp, rotation: 0)!)
        }
        #expect(answer() == ["10.0.1.1"])
        let key = ProbeKey(server: ServerKey(pool: "fe", server: "fe1"), port: 5061)
        _ = published.setHealth(ServerHealth(status: .down, since: .now, lastResult: "test"), for: key)
        #expect(answer() == ["10.0.1.1"])
    }

    /// gdnsd's multifo fallback: a backup server that is never probed is given out only when
    /// every checked server is down.
    @Test func anUncheckedBackupIsAStaticFallback() {
        let check = Check(kind: .tcp, port: 80)
        let pool = Pool(
            name: "web", check: check,
            servers: [
                Server(name: "w1", address: IPAddress(v4: 10, 0, 3, 1)),
                Server(name: "w2", address: IPAddress(v4: 10, 0, 3, 2)),
                Server(name: "sorry", address: IPAddress(v4: 192, 0, 2, 80), isBackup: true, unchecked: true),
            ])
        let zone = Zone(
            name: Self.zoneName,
            soa: Zone.SOA(primary: Self.name("ns1.contoso.com"), mailbox: Self.name("hostmaster.contoso.com")),
            records: [ZoneRecord(name: Self.name("www.contoso.com"), ttl: 30, value: .pool("web"))])
        let topology = Topology(pools: [pool], zones: [zone])
        #expect(topology.probes.map(\.key.server.server) == ["w1", "w2"], "the fallback is not probed")
        let published = PublishedState(topology: topology)
        func answer() -> [String] {
            var query = DNSMessage(id: 1)
            query.questions = [DNSQuestion(name: Self.name("www.contoso.com"), type: DNSType.a)]
            let view = DNSView(state: published.current, previous: nil, now: 1000)
            return addresses(ZoneAuthority.answer(query, view: view, transport: .udp)!).sorted()
        }
        func set(_ server: String, _ status: HealthStatus) {
            let key = ProbeKey(server: ServerKey(pool: "web", server: server), port: 80)
            _ = published.setHealth(ServerHealth(status: status, since: .now, lastResult: "test"), for: key)
        }
        set("w1", .up)
        set("w2", .up)
        #expect(answer() == ["10.0.3.1", "10.0.3.2"])
        set("w1", .down)
        #expect(answer() == ["10.0.3.2"])
        set("w2", .down)
        #expect(answer() == ["192.0.2.80"])
    }

    @Test func srvRecordsOfADownPoolDropOutAndTargetsComeAsAdditionals() {
        let both = ask("_sip._tls.contoso.com", DNSType.srv)
        #expect(both.answers.count == 2)
        #expect(
            Set(both.additionals.map(\.name)) == [Self.name("pool01.contoso.com"), Self.name("pool02.contoso.com")])
        let primaryDown = ask(
            "_sip._tls.contoso.com", DNSType.srv, published: Self.published(down: ["fe1", "fe2", "fe3"]))
        #expect(
            primaryDown.answers.map(\.data) == [
                .srv(priority: 10, weight: 10, port: 5061, target: Self.name("pool02.contoso.com"))
            ])
        let everythingDown = ask(
            "_sip._tls.contoso.com", DNSType.srv, published: Self.published(down: ["fe1", "fe2", "fe3", "dr1"]))
        #expect(everythingDown.answers.count == 2)
    }

    @Test func nxdomainAndNodataCarryTheSOA() {
        let missing = ask("nope.contoso.com", DNSType.a)
        #expect(missing.rcode == DNSRCode.nxDomain && missing.authoritative && missing.answers.isEmpty)
        #expect(missing.authorities.first?.type == DNSType.soa && missing.authorities.first?.ttl == 30)
        let noData = ask("mail.contoso.com", DNSType.aaaa)
        #expect(
            noData.rcode == DNSRCode.noError && noData.answers.isEmpty && noData.authorities.first?.type == DNSType.soa)
        // An empty non-terminal exists: NODATA, not NXDOMAIN.
        let interior = ask("deep.contoso.com", DNSType.a)
        #expect(interior.rcode == DNSRCode.noError && interior.answers.isEmpty)
        // Unknown types are NODATA too.
        #expect(ask("mail.contoso.com", 99).rcode == DNSRCode.noError)
    }

    @Test func cnameChainsAreFollowedInsideTheZone() {
        let chain = ask("WWW.contoso.com", DNSType.a)
        #expect(chain.answers.prefix(2).map(\.type) == [DNSType.cname, DNSType.cname])
        #expect(addresses(chain).count == 3)
        #expect(chain.questions.first?.name.labels.first == Array("WWW".utf8))
        let outside = ask("ext.contoso.com", DNSType.a)
        #expect(outside.answers.map(\.type) == [DNSType.cname] && outside.rcode == DNSRCode.noError)
        let loop = ask("loop1.contoso.com", DNSType.a)
        #expect(loop.answers.count == 2)
        #expect(ask("www.contoso.com", DNSType.cname).answers.count == 1)
    }

    @Test func mxAnswersCarryTheExchangesAddress() {
        let mx = ask("contoso.com", DNSType.mx)
        #expect(mx.answers.count == 1 && mx.additionals.map(\.name) == [Self.name("mail.contoso.com")])
    }

    @Test func namesOutsideTheZonesAreRefused() {
        let refused = ask("example.net", DNSType.a)
        #expect(refused.rcode == DNSRCode.refused && !refused.authoritative)
    }

    @Test func anyGetsOneRRSet() {
        let any = ask("contoso.com", DNSType.any)
        #expect(!any.answers.isEmpty && Set(any.answers.map(\.type)).count == 1)
        // The smallest set: the address, not the 400 bytes of text.
        let big = ask("big.contoso.com", DNSType.any)
        #expect(big.answers.map(\.type) == [DNSType.a])
    }

    @Test func ednsIsAnsweredAndSizesTheUDPAnswer() {
        let plain = DNSMessage(id: 1)
        #expect(ZoneAuthority.sizeLimit(for: plain, transport: .udp) == 512)
        var big = DNSMessage(id: 1)
        big.edns = EDNS(udpPayloadSize: 8192)
        #expect(ZoneAuthority.sizeLimit(for: big, transport: .udp) == 4096)
        #expect(ZoneAuthority.sizeLimit(for: big, transport: .tcp) == 65535)
        let answer = ask("pool01.contoso.com", DNSType.a, edns: EDNS(udpPayloadSize: 4096))
        #expect(answer.edns?.udpPayloadSize == ZoneAuthority.advertisedPayloadSize)
        let future = ask("pool01.contoso.com", DNSType.a, edns: EDNS(udpPayloadSize: 4096, version: 1))
        #expect(future.rcode == DNSRCode.badVers)
    }

    @Test func transfersAndOtherOpcodesAreNotQueries() {
        #expect(ask("contoso.com", DNSType.axfr).rcode == DNSRCode.refused)
        var notify = DNSMessage(id: 5)
        notify.opcode = DNSOpcode.notify
        notify.questions = [DNSQuestion(name: Self.zoneName, type: DNSType.soa)]
        let view = DNSView(state: Self.published().current, previous: nil, now: 1)
        #expect(ZoneAuthority.answer(notify, view: view, transport: .udp)?.rcode == DNSRCode.notImp)
        var two = DNSMessage(id: 6)
        two.questions = [DNSQuestion(name: Self.zoneName, type: 1), DNSQuestion(name: Self.zoneName, type: 1)]
        #expect(ZoneAuthority.answer(two, view: view, transport: .udp)?.rcode == DNSRCode.formErr)
        var response = DNSMessage(id: 7)
        response.isResponse = true
        #expect(ZoneAuthority.answer(response, view: view, transport: .udp) == nil)
    }

    @Test func theSerialMovesOnlyWhenAnAnswerChanges() {
        let published = Self.published()
        let first = DNSView(state: published.current, previous: nil, now: 1000)
        #expect(first.zones[0].serial == 1000)
        let same = DNSView(state: published.current, previous: first, now: 1005)
        #expect(same.zones[0].serial == 1000)
        _ = published.setHealth(
            ServerHealth(status: .down, since: .now, lastResult: "test"),
            for: ProbeKey(server: ServerKey(pool: "fe", server: "fe1"), port: 5061))
        let changed = DNSView(state: published.current, previous: same, now: 1000)
        #expect(changed.zones[0].serial == 1001)
        let later = DNSView(state: Self.published().current, previous: changed, now: 5000)
        #expect(later.zones[0].serial == 5000)
    }

    @Test func aTransferHoldsEveryRecordBetweenTwoSOAs() {
        let view = DNSView(state: Self.published().current, previous: nil, now: 1)
        let records = view.zones[0].allRecords
        #expect(records.first?.type == DNSType.soa)
        #expect(records.filter { $0.type == DNSType.soa }.count == 1)
        #expect(records.contains { $0.type == DNSType.srv } && records.contains { $0.type == DNSType.ns })
    }
}
