import BallastCore
import Testing

@Suite struct DNSFollowCheckTests {
    static let topology: Topology = {
        func server(_ name: String, _ address: IPAddress, backup: Bool = false) -> Server {
            Server(name: name, address: address, port: 5061, isBackup: backup)
        }
        var hq = Pool(
            name: "pool-hq",
            servers: [
                server("fe1", IPAddress(v4: 10, 0, 0, 1)), server("fe2", IPAddress("2001:db8::1")!),
                server("spare", IPAddress(v4: 10, 0, 0, 9), backup: true),
            ])
        hq.site = "hq"
        var dr = Pool(name: "pool-dr", servers: [server("fe3", IPAddress(v4: 10, 1, 0, 1))])
        dr.site = "dr"
        var topology = Topology(pools: [hq, dr])
        let apex = DomainName("contoso.com")!
        var zone = Zone(
            name: apex,
            soa: Zone.SOA(primary: DomainName("ns1.contoso.com")!, mailbox: DomainName("hostmaster.contoso.com")!))
        zone.records = [
            ZoneRecord(name: DomainName("pool01.contoso.com")!, ttl: 5, value: .pool("pool-hq")),
            ZoneRecord(name: DomainName("pool02.contoso.com")!, ttl: 5, value: .pool("pool-dr")),
            ZoneRecord(name: DomainName("www.contoso.com")!, ttl: 5, value: .a(IPAddress(v4: 10, 0, 0, 1))),
            ZoneRecord(
                name: DomainName("_sip._tls.contoso.com")!, ttl: 5,
                value: .srv(
                    priority: 0, weight: 10, port: 5061, target: DomainName("pool01.contoso.com")!, pool: "pool-hq")),
            ZoneRecord(
                name: DomainName("_sip._tls.contoso.com")!, ttl: 5,
                value: .srv(
                    priority: 10, weight: 10, port: 5061, target: DomainName("pool02.contoso.com")!, pool: "pool-dr")),
        ]
        topology.zones = [zone]
        return topology
    }()

    @Test func onlyRecordsBoundToTheSitesPoolsAreAsked() {
        let check = DNSFollowCheck(topology: Self.topology, site: "hq", failover: true)
        #expect(
            check.probes.map(\.description) == [
                "pool01.contoso.com. A", "pool01.contoso.com. AAAA", "_sip._tls.contoso.com. SRV",
            ])
        #expect(check.probes[0].siteAnswers == ["10.0.0.1"], "a backup server is not what names the site")
        #expect(check.probes[1].siteAnswers == ["2001:db8::1"])
        #expect(check.probes[2].siteAnswers == ["0 10 5061 pool01.contoso.com."])
        #expect(DNSFollowCheck(topology: Self.topology, site: "nowhere", failover: true).probes.isEmpty)
    }

    @Test func aFailoverWantsTheSiteGoneAndAFailbackWantsItBack() {
        let out = DNSFollowCheck(topology: Self.topology, site: "hq", failover: true)
        let back = DNSFollowCheck(topology: Self.topology, site: "hq", failover: false)
        let a = out.probes[0]
        #expect(!out.isMet(a, answers: ["10.0.0.1", "10.1.0.1"]))
        #expect(out.isMet(a, answers: ["10.1.0.1"]))
        #expect(out.isMet(a, answers: []))
        #expect(back.isMet(a, answers: ["10.0.0.1"]))
        #expect(!back.isMet(a, answers: ["10.1.0.1"]))
        #expect(!back.isMet(a, answers: []))
        let srv = out.probes[2]
        #expect(!out.isMet(srv, answers: ["0 10 5061 pool01.contoso.com.", "10 10 5061 pool02.contoso.com."]))
        #expect(out.isMet(srv, answers: ["10 10 5061 pool02.contoso.com."]))
    }
}
