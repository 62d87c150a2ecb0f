import BallastTestSupport
import Foundation
import Testing

/// Deployment D5 with the directory in PostgreSQL, with the real binary: a primary at hq and a
/// streaming standby at dr (pg_basebackup -R), a node whose config names both. hq is lost: the
/// node goes on reading from the standby and refuses writes; `ballast plan failover` and
/// `ballast apply`, through the node's admin API, promote the standby first, then fence hq and
/// home its users at dr; DNS follows. The old primary, back on its old timeline, is not written.
@Suite(.serialized) struct PostgresSiteFailoverTests {
    @Test func aFailoverPromotesTheStandbyAtTheSurvivingSite() async throws {
        let primary = try TestPostgres()
        defer { primary.remove() }
        let standby = try TestPostgres(standbyOf: primary)
        defer { standby.remove() }
        let folder = try BallastProcess.makeDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let admin = Ports.free()
        let dns = Ports.freeForTCPAndUDP()
        func config(location: String, standby: String?) -> String {
            """
            admin: {listen: 127.0.0.1:\(admin), token: pg-failover-token}
            sites: {hq: {hold-down: 0s}, dr: {hold-down: 0s}}
            pools:
              pool-hq: {site: hq, backup-pool: pool-dr, servers: [{name: fe-hq, address: 127.0.0.111:5060}]}
              pool-dr: {site: dr, backup-pool: pool-hq, servers: [{name: fe-dr, address: 127.0.0.121:5060}]}
            dns: {listen: [127.0.0.1:\(dns)]}
            zones:
              contoso.com:
                soa: {primary: ns1.contoso.com, mailbox: hostmaster.contoso.com, minimum: 5}
                records:
                  - {name: pool01, type: A, pool: pool-hq, ttl: 5}
                  - {name: pool02, type: A, pool: pool-dr, ttl: 5}
                  - {name: _sipinternaltls._tcp, type: SRV, priority: 0, weight: 10, port: 5061, target: pool01, pool: pool-hq}
                  - {name: _sipinternaltls._tcp, type: SRV, priority: 10, weight: 10, port: 5061, target: pool02, pool: pool-dr}
            store:
              location: \(location)
              realm: contoso.com
              poll-interval: 200ms
              cache-file: \(folder.path)/\(standby == nil ? "single" : "node").last-state.json
            """ + (standby.map { "\n  standby: \($0)\n" } ?? "\n")
        }
        let both = config(location: primary.url, standby: standby.url)
        let paths = ["both": "both.yaml", "standby": "standby.yaml", "old": "old.yaml"].mapValues {
            folder.appendingPathComponent($0).path
        }
        try both.write(toFile: paths["both"]!, atomically: true, encoding: .utf8)
        try config(location: standby.url, standby: nil).write(
            toFile: paths["standby"]!, atomically: true, encoding: .utf8)
        try config(location: primary.url, standby: nil).write(toFile: paths["old"]!, atomically: true, encoding: .utf8)
        let users = folder.appendingPathComponent("users.csv").path
        try
            "sip-uri,password,home-pool,contacts\nsip:alice@contoso.com,pw,pool-hq,sip:bob@contoso.com\nsip:bob@contoso.com,pw,pool-dr,\n"
            .write(toFile: users, atomically: true, encoding: .utf8)
        #expect(try BallastProcess.run(["users", "import", "-c", paths["both"]!, users]).status == 0)
        func homes(_ which: String) -> String {
            (try? BallastProcess.run(["users", "export", "--format", "csv", "-c", paths[which]!]).stdout) ?? ""
        }
        func dig(_ name: String, _ type: String) -> String {
            (try? Dig.short(port: dns, name, type))?.joined(separator: "\n") ?? ";; no answer"
        }
        // The standby has the users before the primary's site is lost.
        #expect(await eventually(timeout: .seconds(15)) { homes("standby").contains("sip:alice@contoso.com") })

        try await withBallast(config: both) { node in
            #expect(
                await eventually(timeout: .seconds(15)) { dig("pool01.contoso.com", "A").contains("127.0.0.111") },
                "\(node.log)")
            primary.stop()
            // Reads go on from the standby; writes are refused, saying why.
            let refused = try BallastProcess.run(["db", "add", "DB09", "--copies", "fe-dr", "-c", paths["both"]!])
            #expect(refused.status != 0, "\(refused.stdout)")
            #expect(refused.stderr.contains("is a standby (read-only)"), "\(refused.stderr)")
            #expect(dig("pool01.contoso.com", "A").contains("127.0.0.111"))

            let planned = try BallastProcess.run(["plan", "failover", "--site", "hq", "-c", paths["both"]!])
            #expect(planned.stdout.contains("through the admin API"), "\(planned.stdout) \(planned.stderr)")
            #expect(planned.stdout.contains("1. promote the store"), "\(planned.stdout)")
            let applied = try BallastProcess.run(["apply", "-c", paths["both"]!], timeout: .seconds(90))
            #expect(applied.stdout.contains(": applied"), "\(applied.stdout) \(applied.stderr)\n\(node.log)")
            #expect(applied.stdout.contains("promoted the standby at 127.0.0.1:\(standby.port)"), "\(applied.stdout)")

            // Everything is on the promoted server, and the node's answers follow the fence.
            let alice = homes("standby").split(separator: "\n").first { $0.hasPrefix("sip:alice@") } ?? ""
            #expect(alice.contains(",pool-dr,") && alice.hasSuffix(",sip:bob@contoso.com"), "\(alice)")
            #expect(await eventually(timeout: .seconds(5)) { dig("pool01.contoso.com", "A").isEmpty }, "\(node.log)")
            #expect(
                dig("_sipinternaltls._tcp.contoso.com", "SRV").trimmingCharacters(in: .whitespacesAndNewlines)
                    == "10 10 5061 pool02.contoso.com.")
            let shown = try BallastProcess.run(["plan", "show", "-c", paths["standby"]!, "--direct"])
            #expect(shown.stdout.contains("applied"), "\(shown.stdout)")

            // The old primary returns on its old timeline: the node's writes stay on the new one.
            try primary.start()
            let added = try BallastProcess.run(["db", "add", "DB09", "--copies", "fe-dr", "-c", paths["both"]!])
            #expect(
                added.status == 0 && added.stdout.contains("through the admin API"), "\(added.stdout) \(added.stderr)")
            let onNew = try BallastProcess.run(["db", "list", "-c", paths["standby"]!]).stdout
            let onOld = try BallastProcess.run(["db", "list", "-c", paths["old"]!]).stdout
            #expect(onNew.contains("DB09"), "\(onNew)")
            #expect(!onOld.contains("DB09"), "\(onOld)")
        }
    }
}
