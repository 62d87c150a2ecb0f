import BallastConfig
import BallastCore
import Testing

/// The `dns` and `zones` sections: what they build, and the errors they get.
@Suite struct ZoneConfigTests {
    func parse(_ zone: String, dns: String = "dns: {listen: 127.0.0.1:5300}") throws -> Topology {
        try ConfigLoader.parse(yaml: yaml(zone, dns: dns), file: "z.yaml")
    }

    func errors(_ zone: String, dns: String = "dns: {listen: 127.0.0.1:5300}") -> [ConfigError] {
        do {
            _ = try ConfigLoader.parse(yaml: yaml(zone, dns: dns), file: "z.yaml")
            Issue.record("expected errors")
            return []
        } catch {
            return error.errors
        }
    }

    func yaml(_ zone: String, dns: String) -> String {
        """
        pools:
          fe:
            servers: [10.0.0.1:5061, "[2001:db8::1]:5061"]
        \(dns)
        zones:
          contoso.com:
        \(zone)
        """
    }

    @Test func recordsAreReadRelativeToTheZone() throws {
        let topology = try parse(
            """
                ttl: 120
                when-all-down: none
                soa: {primary: ns1, mailbox: admin.example.net., serial: 2026112101, refresh: 1h, minimum: 30s}
                secondaries: [127.0.0.1:5301]
                records:
                  - {name: "@", type: NS, value: ns1}
                  - {name: ns1, type: A, value: 10.0.0.53}
                  - {name: v6, type: AAAA, value: "2001:db8::53"}
                  - {name: pool01, type: A, pool: fe, ttl: 30}
                  - {name: _sip._tls, type: SRV, priority: 0, weight: 10, port: 5061, target: pool01, pool: fe}
                  - {name: "@", type: MX, value: mail.example.net.}
                  - {name: www, type: CNAME, value: pool01}
                  - {name: "@", type: TXT, value: "v=spf1 -all"}
            """)
        #expect(topology.dns.listeners == [Endpoint("127.0.0.1:5300")!])
        let zone = try #require(topology.zones.first)
        #expect(zone.ttl == 120 && zone.allDown == .none && zone.secondaries == [Endpoint("127.0.0.1:5301")!])
        #expect(
            zone.soa.primary == DomainName("ns1.contoso.com") && zone.soa.mailbox == DomainName("admin.example.net"))
        #expect(zone.soa.refresh == 3600 && zone.soa.minimum == 30 && zone.soa.serial == 2026_1121_01)
        let records = zone.records
        #expect(
            records[0]
                == ZoneRecord(name: DomainName("contoso.com")!, ttl: 120, value: .ns(DomainName("ns1.contoso.com")!)))
        #expect(records[3] == ZoneRecord(name: DomainName("pool01.contoso.com")!, ttl: 30, value: .pool("fe")))
        #expect(
            records[4].value
                == .srv(priority: 0, weight: 10, port: 5061, target: DomainName("pool01.contoso.com")!, pool: "fe"))
        #expect(records[5].value == .mx(preference: 10, exchange: DomainName("mail.example.net")!))
        #expect(records[7].value == .txt([Array("v=spf1 -all".utf8)]))
    }

    @Test func mistakesInRecordsAreNamed() {
        let found = errors(
            """
                records:
                  - {name: a, type: A, value: "2001:db8::1"}
                  - {name: b, type: MX}
                  - {name: c, type: SPF, value: x}
                  - {name: d, type: A, pool: nope}
                  - {name: e, type: TXT, value: x, pool: fe}
                  - {name: other.example.net., type: A, value: 10.0.0.1}
                  - {name: f, type: SRV, priority: 0, weight: 10, target: x}
                  - {name: g, type: A, value: 10.0.0.1, pool: fe}
            """)
        let keys = found.map(\.key)
        #expect(keys.contains("zones.contoso.com.records[0].value"))
        #expect(keys.contains("zones.contoso.com.records[1].value"))
        #expect(keys.contains("zones.contoso.com.records[2].type"))
        #expect(keys.contains("zones.contoso.com.records[3].pool"))
        #expect(keys.contains("zones.contoso.com.records[4].pool"))
        #expect(keys.contains("zones.contoso.com.records[5].name"))
        #expect(keys.contains("zones.contoso.com.records[6].port"))
        #expect(keys.contains("zones.contoso.com.records[7].value"))
        #expect(found.allSatisfy { $0.line != nil })
    }

    @Test func aCNAMEStandsAlone() {
        let found = errors(
            """
                records:
                  - {name: www, type: CNAME, value: a}
                  - {name: www, type: A, value: 10.0.0.1}
            """)
        #expect(found.map(\.key) == ["zones.contoso.com.records[1]"])
        #expect(found.first?.expected == "a CNAME alone at its name (RFC 1034)")
    }

    @Test func udpSocketsPerListenAddress() throws {
        #expect(try parse("    records: []").dns.udpSockets == nil)
        let topology = try parse(
            "    records: []", dns: "dns: {listen: [127.0.0.1:5300, 127.0.0.2:5300], udp-sockets: 4}")
        #expect(topology.dns.udpSockets == 4)
        #expect(topology.dns.listeners.count == 2)
        let found = errors("    records: []", dns: "dns: {listen: 127.0.0.1:5300, udp-sockets: 0}")
        #expect(found.map(\.key) == ["dns.udp-sockets"])
        #expect(found.first?.expected == "a whole number from 1 to 256")
        #expect(found.first?.line == 4)
    }

    @Test func tcpConnectionsPerListenAddress() throws {
        #expect(try parse("    records: []").dns.maxTCPConnections == 1024)
        let topology = try parse("    records: []", dns: "dns: {listen: 127.0.0.1:5300, max-tcp-connections: 64}")
        #expect(topology.dns.maxTCPConnections == 64)
        for value in ["0", "-5", "lots", "1000001"] {
            let found = errors("    records: []", dns: "dns: {listen: 127.0.0.1:5300, max-tcp-connections: \(value)}")
            #expect(found.map(\.key) == ["dns.max-tcp-connections"], "\(value)")
            #expect(found.first?.expected == "a whole number from 1 to 1000000")
        }
    }

    @Test func responseRateLimitingIsOnUnlessTurnedOff() throws {
        #expect(try parse("    records: []").dns.rateLimit == DNSRateLimit())
        #expect(
            try parse("    records: []", dns: "dns: {listen: 127.0.0.1:5300, rate-limit: off}").dns.rateLimit == nil)
        let set = try parse(
            "    records: []",
            dns:
                "dns: {listen: 127.0.0.1:5300, rate-limit: {responses-per-second: 50, slip: 0, ipv4-prefix: 32, exempt: [10.0.0.0/8, \"2001:db8::/32\"]}}"
        )
        #expect(
            set.dns.rateLimit
                == DNSRateLimit(
                    responsesPerSecond: 50, slip: 0, ipv4PrefixLength: 32,
                    exempt: [IPPrefix("10.0.0.0/8")!, IPPrefix("2001:db8::/32")!]))
        #expect(
            try parse("    records: []", dns: "dns: {listen: 127.0.0.1:5300, rate-limit: {exempt: []}}").dns.rateLimit?
                .exempt == [])
        let found = errors(
            "    records: []",
            dns: "dns: {listen: 127.0.0.1:5300, rate-limit: {slip: 11, exempt: [10.0.0.0/40], burst: 3}}")
        #expect(Set(found.map(\.key)) == ["dns.rate-limit.slip", "dns.rate-limit.exempt[0]", "dns.rate-limit.burst"])
        #expect(
            errors("    records: []", dns: "dns: {listen: 127.0.0.1:5300, rate-limit: maybe}").map(\.key) == [
                "dns.rate-limit"
            ])
    }

    @Test func aSerialIsAWholeNumberOf32Bits() {
        for bad in ["-1", "4294967296", "2026-11-21", "x"] {
            let found = errors("    soa: {serial: \"\(bad)\"}\n    records: []")
            #expect(found.map(\.key) == ["zones.contoso.com.soa.serial"], "\(bad): \(found)")
        }
    }

    @Test func zonesNeedAListener() {
        let found = errors("    records: []", dns: "")
        #expect(found.map(\.key) == ["dns.listen"])
    }
}
