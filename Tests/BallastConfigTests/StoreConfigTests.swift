import BallastConfig
import BallastCore
import Foundation
import Testing

/// The `store` section and mail relays: what they build and the errors they get.
struct StoreConfigTests {
    static let pools = """
        pools:
          mailbox:
            check: {type: tcp, port: 143}
            servers: [{name: mbx1, address: 10.0.0.1}, {name: mbx2, address: 10.0.0.2}]
        """

    func errors(_ text: String) -> [ConfigError] {
        do {
            _ = try ConfigLoader.parse(yaml: Self.pools + "\n" + text, file: "/etc/ballast/b.yaml")
            Issue.record("expected errors")
            return []
        } catch {
            return error.errors
        }
    }

    @Test func readsSQLiteAndPostgresStores() throws {
        let sqlite = try ConfigLoader.parse(
            yaml: Self.pools
                + "\nstore: {location: data/ballast.db, realm: contoso.com, poll-interval: 250ms, failure-delay: 1s}",
            file: "/etc/ballast/b.yaml")
        #expect(sqlite.store?.location == "/etc/ballast/data/ballast.db")
        #expect(sqlite.store?.cacheFile == "/etc/ballast/data/ballast.db.last-state.json")
        #expect(sqlite.store?.pollInterval == .milliseconds(250))
        #expect(sqlite.store?.failureDelay == .seconds(1))
        let postgres = try ConfigLoader.parse(
            yaml: Self.pools + "\nstore: {location: 'postgres://ballast:pw@db1:5432/ballast', realm: contoso.com}",
            file: "/etc/ballast/b.yaml")
        #expect(postgres.store?.location == "postgres://ballast:pw@db1:5432/ballast")
        #expect(postgres.store?.cacheFile == "/etc/ballast/ballast-directory.last-state.json")
        #expect(postgres.store?.pendingPlanFile == "/etc/ballast/ballast-directory.pending-plan.json")
        #expect(postgres.store?.standbys == [])
    }

    @Test func aPostgresStoreTakesStandbysAndSQLiteNone() throws {
        let one = try ConfigLoader.parse(
            yaml: Self.pools
                + "\nstore: {location: 'postgres://b@db1/ballast', standby: 'postgres://b@db2/ballast', realm: r}",
            file: "/etc/ballast/b.yaml")
        #expect(one.store?.standbys == ["postgres://b@db2/ballast"])
        let two = try ConfigLoader.parse(
            yaml: Self.pools
                + "\nstore: {location: 'postgres://b@db1/ballast', standby: ['postgres://b@db2/ballast', 'postgres://b@db3/ballast'], realm: r}",
            file: "/etc/ballast/b.yaml")
        #expect(two.store?.standbys == ["postgres://b@db2/ballast", "postgres://b@db3/ballast"])
        let sqlite = errors("store: {location: a.db, standby: 'postgres://b@db2/ballast', realm: r}")
        #expect(sqlite.map(\.key) == ["store.standby"])
        #expect(sqlite.first?.description.contains("needs a PostgreSQL store.location") == true)
        let notAURL = errors("store: {location: 'postgres://b@db1/ballast', standby: [db2.contoso.com], realm: r}")
        #expect(notAURL.map(\.key) == ["store.standby"])
        #expect(notAURL.first?.line == 5)
    }

    @Test func backupsNeedAStoreAndAFolder() throws {
        let topology = try ConfigLoader.parse(
            yaml: Self.pools
                + "\nstore: {location: a.db, realm: r}\nbackup: {folder: /dr/backups, every: 1h, keep: 24}",
            file: "/etc/ballast/b.yaml")
        #expect(topology.backup == BackupSettings(folder: "/dr/backups", every: .seconds(3600), keep: 24))
        #expect(errors("backup: {folder: x}").map(\.key) == ["backup"])
        #expect(errors("store: {location: a.db, realm: r}\nbackup: {every: 1h}").map(\.key) == ["backup.folder"])
        #expect(errors("store: {location: a.db, realm: r}\nbackup: {folder: x, keep: 0}").map(\.key) == ["backup.keep"])
    }

    @Test func aWitnessNeedsAStoreAndTwoSites() throws {
        let twoSites = "sites: {hq: {}, dr: {}}\n"
        let topology = try ConfigLoader.parse(
            yaml: Self.pools + "\n" + twoSites
                + "store: {location: a.db, realm: r}\nwitness: {listen: 10.9.0.5:9950, automatic-after: 30s}",
            file: "/etc/ballast/b.yaml")
        #expect(topology.witness?.automaticAfter == .seconds(30))
        #expect(topology.witness?.endpoint.port == 9950)
        #expect(errors("witness: {listen: 10.9.0.5:9950}").map(\.key) == ["witness"])
        #expect(
            errors(twoSites + "store: {location: a.db, realm: r}\nwitness: {automatic-after: 30s}").map(\.key) == [
                "witness.listen"
            ])
    }

    @Test func storeErrorsNameTheKey() {
        #expect(errors("store: {realm: x}").map(\.key) == ["store.location"])
        #expect(errors("store: {location: a.db}").map(\.key) == ["store.realm"])
        #expect(errors("store: {location: 'postgres://', realm: x}").map(\.key) == ["store.location"])
        #expect(errors("store: {location: a.db, realm: x, poll-interval: 1ms}").map(\.key) == ["store.poll-interval"])
        #expect(errors("store: {location: a.db, realm: x, colour: blue}").map(\.key) == ["store.colour"])
        let sip = "sip: {realm: a.example, registrars: {mailbox: {listen: udp://10.0.0.10:5060}}"
        let mismatch = errors(sip + "}\nstore: {location: a.db, realm: b.example}")
        #expect(mismatch.map(\.key) == ["store.realm"])
        #expect(mismatch.first?.line == 6)
        let both = errors(sip + ", users-file: u.yaml}\nstore: {location: a.db}")
        #expect(both.map(\.key) == ["sip.users-file"])
    }

    @Test func mailRelaysDefaultToPlainServerPortsAndTakeCertificates() throws {
        let folder = NSTemporaryDirectory() + "ballast-mailcfg-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        for name in ["c.pem", "c.key"] {
            _ = FileManager.default.createFile(atPath: "\(folder)/\(name)", contents: Data("x".utf8))
        }
        let topology = try ConfigLoader.parse(
            yaml: Self.pools + """

                store: {location: a.db, realm: contoso.com}
                relays:
                  imap: {listen: 10.0.0.10:143, protocol: imap, pool: mailbox}
                  imaps: {listen: 10.0.0.10:993, protocol: imaps, pool: mailbox, certificates: [{certificate: c.pem, key: c.key}]}
                  pop3s: {listen: 10.0.0.10:995, protocol: pop3s, pool: mailbox, forward-port: 1110, certificates: [{certificate: c.pem, key: c.key}]}
                  pop3: {listen: 10.0.0.10:110, protocol: pop3, pool: mailbox, timeouts: {handshake: 2s, login: 30s, idle: 1m}}
                """, file: "\(folder)/b.yaml")
        #expect(topology.relay(named: "imap")?.forwardPort == 143)
        #expect(topology.relay(named: "imaps")?.forwardPort == 143)
        #expect(topology.relay(named: "imaps")?.mail?.certificates.first?.certificateFile == "\(folder)/c.pem")
        #expect(topology.relay(named: "pop3s")?.forwardPort == 1110)
        #expect(topology.relay(named: "imap")?.protocol.isMail == true)
        // Each is a mail relay with its dialect, its TLS and only the settings a mail relay has.
        #expect(topology.relay(named: "imap")?.kind == .mail(MailSettings(dialect: .imap)))
        let certificate = HTTPSettings.Certificate(certificateFile: "\(folder)/c.pem", keyFile: "\(folder)/c.key")
        #expect(
            topology.relay(named: "imaps")?.kind
                == .mail(MailSettings(dialect: .imap, implicitTLS: true, certificates: [certificate])))
        #expect(
            topology.relay(named: "pop3s")?.kind
                == .mail(MailSettings(dialect: .pop3, implicitTLS: true, certificates: [certificate])))
        #expect(topology.relay(named: "imaps")?.http == nil)
        // The handshake and login timeouts are the mail relay's own; idle is every relay's.
        let pop3 = topology.relay(named: "pop3")
        #expect(pop3?.mail?.timeouts == MailSettings.Timeouts(handshake: .seconds(2), login: .seconds(30)))
        #expect(pop3?.timeouts == Relay.Timeouts(idle: .seconds(60)))
        #expect(topology.relay(named: "imap")?.mail?.timeouts == MailSettings.Timeouts())
        let missing = errors("relays:\n  imaps: {listen: 10.0.0.10:993, protocol: imaps, pool: mailbox}")
        #expect(missing.map(\.key) == ["relays.imaps.certificates"])
        let httpOnly = errors(
            "relays:\n  imap: {listen: 10.0.0.10:143, protocol: imap, pool: mailbox, max-header-size: 8k}")
        #expect(httpOnly.map(\.key) == ["relays.imap.max-header-size"])
    }
}
