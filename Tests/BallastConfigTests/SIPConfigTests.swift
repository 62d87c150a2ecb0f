import BallastConfig
import BallastCore
import Testing

/// The `sip` section, sip-options checks and the users file: what they build, and the
/// errors they get (file, line, key, expected form).
@Suite struct SIPConfigTests {
    static let pools = """
        checks:
          sip: {type: sip-options, transport: tcp, expect-status: 200-299, interval: 1s, timeout: 500ms}
        pools:
          pool-hq: {backup-pool: pool-dr, check: sip, servers: [10.0.0.11:5061]}
          pool-dr: {backup-pool: pool-hq, servers: [10.1.0.11:5061]}
        """

    func parse(_ sip: String) throws -> Topology {
        try ConfigLoader.parse(yaml: Self.pools + "\n" + sip, file: "sip.yaml")
    }

    func errors(_ sip: String, pools: String = SIPConfigTests.pools) -> [ConfigError] {
        do {
            _ = try ConfigLoader.parse(yaml: pools + "\n" + sip, file: "sip.yaml")
            Issue.record("expected errors")
            return []
        } catch {
            return error.errors
        }
    }

    @Test func readsRegistrarsDirectorAndTimings() throws {
        let topology = try parse(
            """
            sip:
              realm: lab.example
              users-file: users.yaml
              registrations-file: /var/lib/ballast/registrations.jsonl
              failure-detection: 3s
              fallback: 1m
              nonce-lifetime: 2m
              algorithms: [SHA-256, MD5]
              expires: {min: 30, max: 900, default: 300}
              max-contacts: 5
              max-connections: 500
              registrars:
                pool-hq: {listen: [udp://10.0.0.10:5060, "tcp://10.0.0.10:5060"]}
                pool-dr: {contact: "sip:pool-dr.lab.example:5061;transport=tls"}
              director: {listen: udp://10.0.0.9:5060}
            """)
        let sip = try #require(topology.sip)
        #expect(sip.realm == "lab.example")
        #expect(sip.usersFile == "users.yaml")
        #expect(sip.registrationsFile == "/var/lib/ballast/registrations.jsonl")
        #expect(
            sip.failureDetection == .seconds(3) && sip.fallback == .seconds(60) && sip.nonceLifetime == .seconds(120))
        #expect(sip.algorithms == [.sha256, .md5])
        #expect(sip.minExpires == 30 && sip.maxExpires == 900 && sip.defaultExpires == 300 && sip.maxContacts == 5)
        #expect(sip.maxConnections == 500)
        #expect(sip.registrar(of: "pool-hq")?.contact(for: .udp) == "sip:10.0.0.10:5060")
        #expect(
            sip.registrar(of: "pool-hq")?.listen.map(\.description) == ["udp://10.0.0.10:5060", "tcp://10.0.0.10:5060"])
        #expect(sip.registrar(of: "pool-dr")?.listen.isEmpty == true)
        #expect(sip.registrar(of: "pool-dr")?.contact(for: .tcp) == "sip:pool-dr.lab.example:5061;transport=tls")
        #expect(sip.director.map(\.description) == ["udp://10.0.0.9:5060"])
        #expect(sip.listeners.map(\.pool) == ["pool-hq", "pool-hq", nil])
        guard case .sipOptions(let probe) = topology.pool(named: "pool-hq")?.check?.kind else {
            Issue.record("not a sip-options check")
            return
        }
        #expect(probe.transport == .tcp && probe.expectStatus == 200...299)
    }

    @Test func defaultsAreSecondsNotLyncMinutes() throws {
        let sip = try #require(try parse("sip: {realm: r, registrars: {pool-hq: {listen: udp://10.0.0.10:5060}}}").sip)
        #expect(sip.failureDetection == .seconds(1) && sip.fallback == .seconds(30))
        #expect(sip.algorithms == [.md5])
        #expect(sip.maxConnections == 10_000)
        #expect(sip.registrar(of: "pool-hq")?.contact(for: .udp) == "sip:10.0.0.10:5060")
    }

    @Test(arguments: ["0", "-1", "many", "2000000", "[1]"])
    func aConnectionLimitIsAWholeNumberInRange(value: String) {
        let found = errors(
            "sip: {realm: r, max-connections: \(value), registrars: {pool-hq: {listen: tcp://10.0.0.10:5060}}}")
        #expect(found.map(\.key) == ["sip.max-connections"])
        #expect(found.first?.expected == "a whole number from 1 to 1000000")
        #expect(found.first?.line == 6)  // the sip line, below the pools every test config starts with
    }

    @Test func eachMistakeNamesItsKeyAndTheExpectedForm() {
        let found = errors(
            """
            sip:
              realm: lab.example
              algorithms: [MD4]
              expires: {min: 600, max: 60}
              fallbak: 1s
              registrars:
                pool-hx: {listen: [udp://10.0.0.10:5060]}
                pool-hq: {listen: [udp://10.0.0.10:5060, "smtp://10.0.0.10:25", tls://10.0.0.10:5061]}
                pool-dr: {contact: "not a uri"}
              director: {listen: [udp://10.0.0.10:5060]}
            """)
        let keys = found.map(\.key)
        #expect(keys.contains("sip.algorithms[0]"))
        #expect(keys.contains("sip.expires"))
        #expect(keys.contains("sip.fallbak"))
        #expect(found.first { $0.key == "sip.fallbak" }?.message.contains("did you mean \"fallback\"") == true)
        #expect(keys.contains("sip.registrars.pool-hx"))
        #expect(
            found.first { $0.key == "sip.registrars.pool-hx" }?.message.contains("did you mean \"pool-hq\"") == true)
        #expect(keys.contains("sip.registrars.pool-hq.listen[1]"))
        #expect(keys.contains("sip.registrars.pool-dr.contact"))
        #expect(found.allSatisfy { $0.file == "sip.yaml" && $0.line != nil && $0.expected != nil })
        let duplicate = errors(
            """
            sip:
              realm: r
              registrars:
                pool-hq: {listen: [udp://10.0.0.10:5060]}
              director: {listen: [udp://10.0.0.10:5060]}
            """)
        #expect(duplicate.map(\.key) == ["sip.director.listen[0]"])
        #expect(errors("sip: {registrars: {pool-hq: {listen: udp://10.0.0.10:5060}}}").map(\.key) == ["sip.realm"])
        #expect(
            errors("sip: {realm: r, registrars: {pool-hq: {listen: tls://10.0.0.10:5061}}}").map(\.key) == [
                "sip.certificates"
            ])
        #expect(errors("sip: {realm: r, registrars: {pool-dr: {}}}").map(\.key) == ["sip.registrars.pool-dr.contact"])
        #expect(errors("sip: {realm: r}").map(\.key) == ["sip.registrars"])
    }

    @Test func sipOptionsSettingsBelongToSipOptionsChecks() {
        let pools = """
            checks:
              web: {type: tcp, transport: udp}
              sip: {type: sip-options, path: /}
            pools:
              p: {check: web, servers: [10.0.0.1:80]}
            """
        let found = errors("", pools: pools).map(\.key)
        #expect(found.contains("checks.web.transport"))
        #expect(found.contains("checks.sip.path"))
    }
}

/// The users file: HA1 values only, homes that exist, the realm of the config.
@Suite struct UsersFileReaderTests {
    let topology = Topology(pools: [Pool(name: "pool-hq", servers: []), Pool(name: "pool-dr", servers: [])])
    let settings = SIPSettings(realm: "lab.example")
    let md5 = String(repeating: "a", count: 32)
    let sha = String(repeating: "b", count: 64)

    @Test func readsUsers() throws {
        let directory = try UsersFileReader.parse(
            yaml: """
                realm: lab.example
                users:
                  - {uri: "sip:Alice@LAB.example", home-pool: pool-hq, ha1-md5: \(md5.uppercased()), mail: alice@lab.example}
                  - {uri: "sip:bob@lab.example;transport=tls", auth-name: BOB01, home-pool: pool-dr, ha1-sha256: \(sha)}
                """, file: "users.yaml", settings: settings, topology: topology)
        let alice = try #require(directory.user(sipURI: "sip:Alice@lab.example"))
        #expect(alice.authName == "Alice" && alice.homePool == "pool-hq" && alice.ha1 == [.md5: md5])
        #expect(alice.mail == "alice@lab.example")
        #expect(directory.user(authName: "BOB01")?.sipURI == "sip:bob@lab.example")
        #expect(directory.user(authName: "BOB01")?.ha1 == [.sha256: sha])
    }

    @Test func mistakesNameTheRow() {
        do {
            _ = try UsersFileReader.parse(
                yaml: """
                    realm: other.example
                    users:
                      - {uri: "sip:a@lab.example", home-pool: pool-hq, ha1-md5: xyz}
                      - {uri: "tel:+15550100", ha1-md5: \(md5)}
                      - {uri: "sip:c@lab.example", home-pool: pool-xx, ha1-md5: \(md5)}
                      - {uri: "sip:d@lab.example", password: secret}
                      - {uri: "sip:e@lab.example", ha1-md5: \(md5)}
                      - {uri: "sip:e@lab.example", ha1-md5: \(md5)}
                    """, file: "users.yaml", settings: settings, topology: topology)
            Issue.record("expected errors")
        } catch {
            let keys = error.errors.map(\.key)
            #expect(keys.contains("realm"))
            #expect(keys.contains("users[0].ha1-md5"))
            #expect(keys.contains("users[1].uri"))
            #expect(keys.contains("users[2].home-pool"))
            #expect(keys.contains("users[3].password"))
            #expect(keys.contains("users[5]"))
            #expect(error.errors.allSatisfy { $0.file == "users.yaml" && $0.line != nil })
        }
    }
}
