import BallastConfig
import BallastCore
import Foundation
import Testing

@Suite struct ConfigLoaderTests {
    func load(_ yaml: String) throws -> Topology {
        try ConfigLoader.parse(yaml: yaml, file: "test.yaml")
    }

    func errors(_ yaml: String) -> [ConfigError] {
        do {
            _ = try ConfigLoader.parse(yaml: yaml, file: "test.yaml")
            Issue.record("expected errors")
            return []
        } catch {
            return error.errors
        }
    }

    static let minimal = """
        pools:
          web:
            servers: [127.0.0.1:8081]
        relays:
          front:
            listen: 127.0.0.1:8080
            pool: web
        """

    @Test func minimalConfigGetsDefaults() throws {
        let topology = try load(Self.minimal)
        let relay = try #require(topology.relay(named: "front"))
        #expect(relay.listen == Endpoint("127.0.0.1:8080"))
        #expect(relay.mode == .roundRobin)
        #expect(relay.persistence == .none)
        #expect(relay.timeouts.idle == .seconds(1800))
        #expect(relay.timeouts.connect == .seconds(5))
        #expect(relay.maxConnections == 4096)
        let server = try #require(topology.pool(named: "web")?.servers.first)
        #expect(server.name == "127.0.0.1:8081")
        #expect(server.port == 8081)
        #expect(server.weight == 1)
        #expect(topology.node.shutdownGrace == .seconds(30))
    }

    @Test func fullConfig() throws {
        let topology = try load(
            """
            node:
              shutdown-grace: 10s
            admin:
              listen: 127.0.0.1:9900
              token: s3cret
            sites:
              hq: {}
              dr: {}
            checks:
              web:
                type: https
                path: /healthz
                expect-status: 200-299
                expect-body: ok
                interval: 500ms
                timeout: 250ms
                rise: 3
                fall: 4
                server-name: web.example.com
            pools:
              hq-web:
                site: hq
                backup-pool: dr-web
                check: web
                servers:
                  - {name: a, address: 10.0.0.1, port: 443, weight: 10}
                  - {name: b, address: "2001:db8::2", port: 443, backup: true}
              dr-web:
                site: dr
                check: {type: tcp, port: 443}
                servers: [10.1.0.1]
            relays:
              front:
                listen: 0.0.0.0:443
                pool: hq-web
                mode: least-connections
                persistence: {type: source, timeout: 10m, size: 5000}
                timeouts: {connect: 2s, idle: 1h}
                max-connections: 500
                proxy-protocol: v2
                accept-proxy-protocol: true
            """)
        #expect(topology.node.shutdownGrace == .seconds(10))
        #expect(topology.admin == Topology.Admin(listen: Endpoint("127.0.0.1:9900")!, token: "s3cret"))
        #expect(topology.sites.map(\.name) == ["hq", "dr"])
        let pool = try #require(topology.pool(named: "hq-web"))
        #expect(pool.site == "hq")
        #expect(pool.backupPool == "dr-web")
        let check = try #require(pool.check)
        #expect(check.interval == .milliseconds(500))
        #expect(check.timeout == .milliseconds(250))
        #expect(check.rise == 3 && check.fall == 4)
        guard case .http(let http, let tls) = check.kind else {
            Issue.record("expected an https check")
            return
        }
        #expect(http.path == "/healthz")
        #expect(http.expectStatus == 200...299)
        #expect(http.expectBody == "ok")
        #expect(tls?.serverName == "web.example.com")
        #expect(tls?.verify == false)
        #expect(pool.servers[0].weight == 10)
        #expect(pool.servers[1].isBackup)
        #expect(pool.servers[1].address == IPAddress("2001:db8::2"))
        let relay = try #require(topology.relay(named: "front"))
        #expect(relay.mode == .leastConnections)
        #expect(relay.persistence == .sourceAddress(timeout: .seconds(600), capacity: 5000))
        #expect(relay.timeouts == Relay.Timeouts(connect: .seconds(2), idle: .seconds(3600)))
        #expect(relay.maxConnections == 500)
        #expect(relay.proxyProtocol == .v2)
        #expect(relay.acceptProxyProtocol)
    }

    @Test func portsExpandToOneRelayEach() throws {
        let topology = try load(
            """
            pools:
              cas:
                check: {type: tcp}
                servers: [10.0.0.11, 10.0.0.12]
            relays:
              cas:
                listen: 10.0.0.10
                ports: [443, 110]
                pool: cas
                mode: source-hash
                persistence: source
            """)
        #expect(topology.relays.map(\.name) == ["cas-443", "cas-110"])
        #expect(topology.relays.map(\.listen.port) == [443, 110])
        #expect(topology.relays.allSatisfy { $0.mode == .sourceHash && $0.persistence == .defaultSourceAddress })
    }

    @Test func sitesAsAList() throws {
        let topology = try load("sites: [hq, dr]\n" + Self.minimal)
        #expect(topology.sites.map(\.name) == ["hq", "dr"])
    }

    @Test(arguments: [
        ("500ms", Duration.milliseconds(500)), ("2s", .seconds(2)), ("30m", .seconds(1800)), ("1h30m", .seconds(5400)),
        ("45", .seconds(45)), ("1d", .seconds(86400)),
    ])
    func durations(text: String, expected: Duration) throws {
        let topology = try load(Self.minimal + "\n    timeouts: {idle: \(text)}")
        #expect(topology.relays[0].timeouts.idle == expected)
    }

    // MARK: Errors

    @Test func anErrorNamesFileLineKeyAndExpectedForm() throws {
        let found = errors(Self.minimal + "\n    mode: sourcehash")
        let error = try #require(found.first)
        #expect(found.count == 1)
        #expect(error.code == .invalidValue)
        #expect(error.file == "test.yaml")
        #expect(error.line == 8)
        #expect(error.column == 11)
        #expect(error.key == "relays.front.mode")
        #expect(
            error.description.hasPrefix(
                "test.yaml:8:11: relays.front.mode: is \"sourcehash\" (did you mean \"source-hash\"?); expected one of round-robin"
            ))
    }

    @Test func everyErrorIsReportedNotJustTheFirst() {
        let found = errors(
            """
            checks:
              t: {type: tcp, interval: 1s, timeout: 2s, fal: 3}
            pools:
              web:
                check: nope
                servers:
                  - {name: a, address: 10.0.0.300}
                  - {name: a, address: 10.0.0.2, port: 80, weight: 0}
            relays:
              front:
                listen: 127.0.0.1
                pool: webb
                persistence: {type: sticky}
                max-connections: -1
            """)
        let keys = found.map(\.key)
        #expect(keys.contains("checks.t.fal"))
        #expect(keys.contains("pools.web.check"))
        #expect(keys.contains("pools.web.servers[0].address"))
        #expect(keys.contains("pools.web.servers[1].weight"))
        #expect(keys.contains("relays.front.listen"))
        #expect(keys.contains("relays.front.pool"))
        #expect(keys.contains("relays.front.persistence.type"))
        #expect(keys.contains("relays.front.max-connections"))
        #expect(found.count >= 8)
        // In file order.
        let lines = found.compactMap(\.line)
        #expect(lines == lines.sorted())
    }

    @Test func unknownKeysSuggestTheRightOne() throws {
        let error = try #require(errors(Self.minimal + "\n    max-conections: 10").first)
        #expect(error.code == .unknownKey)
        #expect(error.key == "relays.front.max-conections")
        #expect(error.message.contains("did you mean \"max-connections\""))
    }

    @Test func yamlSyntaxErrorsCarryTheirLine() throws {
        let error = try #require(errors("pools:\n  web: [unclosed\nrelays: {}\n").first)
        #expect(error.code == .syntax)
        #expect(error.line != nil)
    }

    @Test func emptyFile() throws {
        #expect(try #require(errors("").first).code == .missingKey)
        #expect(try #require(errors("# only a comment\n").first).code == .missingKey)
    }

    @Test func notAMapping() throws {
        #expect(try #require(errors("- just\n- a list\n").first).code == .invalidValue)
    }

    @Test func duplicateKeys() throws {
        let found = errors(Self.minimal + "\n    pool: web")
        let error = found.first { $0.code == .duplicate }
        #expect(error?.key == "pool")
        #expect(error?.line == 7)  // the first occurrence
        #expect(error?.description.contains("pools:") == false)
    }

    @Test func duplicateListeners() throws {
        let found = errors(Self.minimal + "\n  second:\n    listen: 127.0.0.1:8080\n    pool: web")
        #expect(found.contains { $0.code == .duplicate && $0.message.contains("also the listener of relay front") })
    }

    @Test func duplicateServerNames() throws {
        let found = errors("pools:\n  web:\n    servers: [10.0.0.1:80, 10.0.0.1:80]\n")
        #expect(found.contains { $0.code == .duplicate })
    }

    @Test func anAdminListenerOffLoopbackNeedsAToken() throws {
        let found = errors(Self.minimal + "\nadmin:\n  listen: 10.0.0.5:9900\n")
        #expect(found.contains { $0.code == .missingKey && $0.key == "admin.token" && $0.line == 9 })
        #expect(try load(Self.minimal + "\nadmin:\n  listen: 10.0.0.5:9900\n  token: t\n").admin?.token == "t")
        #expect(try load(Self.minimal + "\nadmin:\n  listen: 127.0.0.2:9900\n").admin?.token == nil)
        #expect(try load(Self.minimal + "\nadmin:\n  listen: \"[::1]:9900\"\n").admin?.token == nil)
    }

    @Test func missingRequiredKeys() {
        let found = errors("pools:\n  web: {}\nrelays:\n  front: {pool: web}\n")
        #expect(found.contains { $0.code == .missingKey && $0.key == "pools.web.servers" })
        #expect(found.contains { $0.code == .missingKey && $0.key == "relays.front.listen" })
    }

    @Test func aServerMayOptOutOfItsPoolsCheck() throws {
        // A pool used only by DNS: its checked servers name their port, the fallback needs none.
        let yaml = """
            checks:
              web: {type: tcp}
            pools:
              dnsonly:
                check: web
                servers:
                  - {name: a, address: 10.0.0.1:80}
                  - {name: fallback, address: 192.0.2.80, backup: true, check: none}
            """
        let topology = try load(yaml)
        let server = try #require(topology.pool(named: "dnsonly")?.server(named: "fallback"))
        #expect(server.unchecked && server.isBackup)
        let wrong = errors(yaml.replacingOccurrences(of: "check: none", with: "check: tcp"))
        #expect(wrong.map(\.key) == ["pools.dnsonly.servers[1].check"], "\(wrong)")
    }

    @Test func checkWithoutAnyPortToProbe() throws {
        let found = errors("pools:\n  web:\n    check: {type: tcp}\n    servers: [10.0.0.1]\n")
        let error = try #require(found.first)
        #expect(error.key == "pools.web.check")
        #expect(error.expected?.contains("port:") == true)
    }

    @Test func checkFieldsMustFitTheType() {
        let found = errors(
            "checks:\n  t: {type: tcp, path: /x, port: 80}\n  u: {type: http, verify: true, port: 80}\n" + Self.minimal)
        #expect(found.contains { $0.key == "checks.t.path" && $0.code == .conflict })
        #expect(found.contains { $0.key == "checks.u.verify" && $0.code == .conflict })
    }

    @Test func timeoutLongerThanInterval() {
        let found = errors("checks:\n  t: {type: tcp, port: 80, interval: 1s, timeout: 5s}\n" + Self.minimal)
        #expect(found.contains { $0.key == "checks.t.timeout" && $0.code == .conflict })
    }

    @Test func badStatusRanges() {
        for status in ["99", "600", "300-200", "abc", "200-"] {
            let found = errors("checks:\n  t: {type: http, port: 80, expect-status: \"\(status)\"}\n" + Self.minimal)
            #expect(found.contains { $0.key == "checks.t.expect-status" }, "\(status)")
        }
    }

    @Test func backupPoolReferences() {
        let selfRef = errors("pools:\n  a:\n    backup-pool: a\n    servers: [10.0.0.1:80]\n")
        #expect(selfRef.contains { $0.code == .conflict && $0.key == "pools.a.backup-pool" })
        let unknown = errors("pools:\n  a:\n    backup-pool: b\n    servers: [10.0.0.1:80]\n")
        #expect(unknown.contains { $0.code == .unknownReference && $0.key == "pools.a.backup-pool" })
    }

    @Test func unknownSite() {
        let found = errors("sites: [hq]\npools:\n  a:\n    site: dr\n    servers: [10.0.0.1:80]\n")
        #expect(
            found.contains { $0.code == .unknownReference && $0.key == "pools.a.site" && $0.expected == "one of hq" })
        let server = errors("sites: [hq, dr]\npools:\n  a:\n    servers: [{address: 10.0.0.1:80, site: lab}]\n")
        #expect(
            server.contains {
                $0.code == .unknownReference && $0.key == "pools.a.servers[0].site" && $0.line == 4
                    && $0.expected == "one of dr, hq"
            })
    }

    @Test func serversOfAPoolMayBeAtDifferentSites() throws {
        let topology = try ConfigLoader.parse(
            yaml:
                "sites: [hq, dr]\npools:\n  web:\n    site: hq\n    servers: [{address: 10.0.0.1:80}, {address: 10.0.0.2:80, site: dr}]\n",
            file: "t.yaml")
        let pool = try #require(topology.pool(named: "web"))
        #expect(pool.servers.map { pool.site(of: $0) } == ["hq", "dr"])
        #expect(topology.serverNames(at: "dr") == ["10.0.0.2:80"])
    }

    @Test(arguments: ["10.0.0.1:80:90", "host.example", "10.0.0.1:99999", ""])
    func badServerShorthand(text: String) {
        let found = errors("pools:\n  web:\n    servers: [\"\(text)\"]\n")
        #expect(!found.isEmpty)
    }

    @Test func portGivenTwice() {
        let found = errors("pools:\n  web:\n    servers:\n      - {address: 10.0.0.1:80, port: 81}\n")
        #expect(found.contains { $0.code == .conflict && $0.key == "pools.web.servers[0].port" })
    }

    @Test func listenWithPortAndPorts() {
        let found = errors(
            "pools:\n  web:\n    servers: [10.0.0.1:80]\nrelays:\n  r:\n    listen: 10.0.0.9:80\n    ports: [81]\n    pool: web\n"
        )
        #expect(found.contains { $0.code == .conflict && $0.key == "relays.r.ports" })
    }

    @Test func invalidNames() {
        let found = errors("pools:\n  \"we b\":\n    servers: [10.0.0.1:80]\n")
        #expect(
            found.contains {
                $0.key.hasPrefix("pools.we b")
                    && $0.expected == "a name of letters, digits, '-', '_' and '.', starting with a letter or digit"
            })
    }

    @Test func unreadableFile() throws {
        do {
            _ = try ConfigLoader.load(path: "/nonexistent/ballast.yaml")
            Issue.record("expected an error")
        } catch {
            let first = try #require(error.errors.first)
            #expect(first.code == .unreadable)
            #expect(first.description.contains("/nonexistent/ballast.yaml"))
        }
    }

    /// Whatever bytes the file holds, the loader answers with a topology or errors.
    @Test func randomInputNeverCrashes() {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("pools:relays: -[]{}\"'#&*!|>%@`\n\t 0123456789abc.:/\\")
        for _ in 0..<500 {
            let length = Int(generator.next() % 200)
            let text = String((0..<length).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] })
            _ = try? ConfigLoader.parse(yaml: text, file: "random.yaml")
        }
        let mutated = Self.minimal.map { character -> Character in generator.next() % 20 == 0 ? "{" : character }
        _ = try? ConfigLoader.parse(yaml: String(mutated), file: "mutated.yaml")
    }
    /// An error is reported where it is made, and nothing that follows from it: a broken check
    /// is not also "named by no check", unreadable certificates are not also "missing", a broken
    /// relay does not leave its pool "forwarded to by no relay", a broken pool is not also
    /// "named by no pool".
    @Test func onlyTheFirstCauseIsReported() {
        let brokenCheck = errors(
            """
            checks:
              web: {type: http, interval: 2x, path: /}
            pools:
              web: {check: web, servers: [10.0.0.1:80]}
            relays:
              front: {listen: 10.0.0.10:80, pool: web}
            """)
        #expect(brokenCheck.map(\.key) == ["checks.web.interval"], "\(brokenCheck)")
        let certificates = errors(
            """
            pools:
              mailbox:
                check: {type: tcp}
                servers: [{name: EX1, address: 10.0.0.21}]
              pool-hq:
                servers: [10.0.0.5]
            relays:
              imap: {listen: 10.0.0.10:143, protocol: imap, pool: mailbox, certificates: [{certificate: /nonexistent/a.pem, key: /nonexistent/a.key}]}
            sip:
              realm: contoso.com
              registrars:
                pool-hq: {listen: [tls://10.0.0.5:5061]}
              certificates: [{certificate: /nonexistent/s.pem, key: /nonexistent/s.key}]
            store: {location: /tmp/ballast-never-created.db, realm: contoso.com}
            """)
        #expect(
            certificates.map(\.key) == [
                "relays.imap.certificates[0].certificate", "relays.imap.certificates[0].key",
                "sip.certificates[0].certificate", "sip.certificates[0].key",
            ], "\(certificates)")
        let brokenPool = errors(
            """
            pools:
              web: [1, 2]
            relays:
              front: {listen: 10.0.0.10:80, pool: web}
            dns: {listen: [127.0.0.1:5353]}
            zones:
              contoso.com:
                records:
                  - {name: www, type: A, pool: web}
            """)
        #expect(brokenPool.map(\.key) == ["pools.web"], "\(brokenPool)")
        // Without the first cause, the consequence is still an error of its own.
        let unknown = errors(
            Self.minimal.replacingOccurrences(
                of: "servers: [127.0.0.1:8081]", with: "check: nope\n    servers: [127.0.0.1:8081]"))
        #expect(unknown.map(\.key) == ["pools.web.check"] && unknown.first?.message.contains("names no check") == true)
        let missing = errors(
            """
            pools:
              pool-hq: {servers: [10.0.0.5]}
            sip:
              realm: contoso.com
              registrars:
                pool-hq: {listen: [tls://10.0.0.5:5061]}
            store: {location: /tmp/ballast-never-created.db, realm: contoso.com}
            """)
        #expect(missing.map(\.key) == ["sip.certificates"], "\(missing)")
    }
    /// Two listeners on one address, port and protocol are refused before anything binds,
    /// whichever sections they are in; a wildcard address takes its port everywhere.
    @Test func listenersOfDifferentSectionsMayNotShareAnAddress() {
        let clash = errors(
            """
            admin: {listen: 127.0.0.1:9900}
            pools:
              web: {servers: [10.0.0.1:80]}
              fe: {servers: [10.0.0.2:5060]}
            relays:
              api: {listen: 127.0.0.1:9900, pool: web}
              dnsish: {listen: 0.0.0.0:5353, pool: web}
            dns: {listen: [127.0.0.1:5353]}
            zones:
              contoso.com:
                records: [{name: www, type: A, value: 10.0.0.1}]
            sip:
              realm: contoso.com
              users-file: /nonexistent-but-unread.yaml
              registrars:
                fe: {listen: [udp://127.0.0.1:5353, tcp://127.0.0.1:5070]}
            """)
        let messages = clash.filter { $0.code == .duplicate }.map(\.message)
        #expect(
            messages.contains {
                $0.contains("relay api listens on 127.0.0.1:9900 (TCP), which the admin listener also listens on")
            }, "\(clash)")
        #expect(
            messages.contains {
                $0.contains(
                    "the DNS listener listens on 127.0.0.1:5353 (TCP), which relay dnsish also listens on (0.0.0.0:5353)"
                )
            },
            "\(clash)")
        #expect(
            messages.contains {
                $0.contains(
                    "the SIP registrar of fe listens on 127.0.0.1:5353 (UDP), which the DNS listener also listens on")
            },
            "\(clash)")
        #expect(messages.count == 3, "\(messages)")
        // The same port over UDP for one and TCP for another is no conflict.
        let apart =
            (try? load(
                """
                pools:
                  fe: {servers: [10.0.0.2:5060]}
                relays:
                  front: {listen: 127.0.0.1:5060, pool: fe}
                sip:
                  realm: contoso.com
                  registrars:
                    fe: {listen: [udp://127.0.0.1:5060]}
                """)) != nil
        #expect(apart)
    }
}
