import BallastTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `ballast demo`, the README's main job: the two-site lab comes up with one command, answers
/// dig, curl (HTTPS and IMAP) and the CLI, and a failover plan moves alice's mailbox to DR.
@Suite(.serialized) struct DemoTests {
    @Test func theDemoLabComesUpAndFailsOver() async throws {
        let curl = URL(fileURLWithPath: "/usr/bin/curl")
        func imapServer(_ base: Int) -> String? {
            let output = try? BallastProcess.run(
                executable: curl,
                ["-s", "-m", "5", "-u", "alice:alice-demo", "imap://127.0.0.1:\(base + 143)/", "-X", "ID NIL"])
            return ["EX1", "EX3"].first { output?.stdout.contains("\"name\" \"\($0)\"") == true }
        }
        let demo = try await DemoProcess(bases: 20000..<31000) { imapServer($0) == "EX1" }
        defer { demo.stop() }
        let (base, folder) = (demo.base, demo.folder)
        let srv = try BallastProcess.run(
            executable: URL(fileURLWithPath: "/usr/bin/dig"),
            [
                "@127.0.0.1", "-p", "\(base + 53)", "+short", "+time=1", "+tries=2", "_sipinternaltls._tcp.contoso.com",
                "SRV",
            ])
        #expect(
            srv.stdout.contains("0 10 5061 pool01.contoso.com.")
                && srv.stdout.contains("10 10 5061 pool02.contoso.com."))
        let web = try BallastProcess.run(executable: curl, ["-sk", "-m", "5", "https://127.0.0.1:\(base + 443)/"])
        #expect(web.stdout.hasPrefix("hello from web-hq"))
        let config = folder.appendingPathComponent("ballast.yaml").path
        #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("certs/server.pem").path))
        // With the lab's node running, the CLI goes through its admin API.
        let planned = try BallastProcess.run(["plan", "failover", "--site", "hq", "-c", config])
        #expect(
            planned.stdout.contains("through the admin API at 127.0.0.1:\(base)"), "\(planned.stdout) \(planned.stderr)"
        )
        let early = try BallastProcess.run(["apply", "--step", "3", "-c", config])
        #expect(early.status != 0 && early.stderr.contains("apply in order"), "\(early.stderr)")
        // Applied through the node, paced; meanwhile the CLI straight to the store is refused:
        // the node holds the plan.
        let appliedLog = folder.appendingPathComponent("apply.log")
        let applying = try PeerProcess(
            BallastProcess.binary.path, ["apply", "--step-delay", "500ms", "-c", config], output: appliedLog)
        defer { applying.stop() }
        #expect(
            await eventually(timeout: .seconds(10)) {
                (try? BallastProcess.run(["plan", "show", "-c", config]).stdout.contains("[running")) == true
            })
        let direct = try BallastProcess.run(["apply", "--direct", "-c", config])
        #expect(
            direct.status != 0 && direct.stderr.contains("is being applied by node@"),
            "\(direct.stdout) \(direct.stderr)")
        #expect(
            await eventually(timeout: .seconds(30)) {
                ((try? String(contentsOf: appliedLog, encoding: .utf8)) ?? "").contains(": applied")
            })
        let applied = (try? String(contentsOf: appliedLog, encoding: .utf8)) ?? ""
        #expect(applied.contains("through the admin API"), "\(applied)")
        #expect(await eventually(timeout: .seconds(5)) { imapServer(base) == "EX3" })
        // The web pool spans both sites: hq's servers are fenced with it, dr's backup serves.
        let fencedWeb = try BallastProcess.run(
            executable: curl, ["-sk", "-m", "5", "https://127.0.0.1:\(base + 443)/"])
        #expect(fencedWeb.stdout.hasPrefix("hello from web-dr1"), "\(fencedWeb.stdout)")
        let status = try BallastProcess.run(["status", "-c", config])
        #expect(status.stdout.contains("site hq: FENCED since"), "\(status.stdout) \(status.stderr)")
        #expect(status.stdout.contains("site dr: serving"))
        // Backups and restores go through the node too; a file that is not a backup is refused.
        let backup = try BallastProcess.run(["backup", "-c", config])
        #expect(
            backup.stdout.contains("3 users, 2 databases") && backup.stdout.contains("through the admin API"),
            "\(backup.stdout) \(backup.stderr)")
        let restored = try BallastProcess.run(["restore", "--latest", "-c", config])
        #expect(restored.stdout.contains("restored 3 users and 2 databases"), "\(restored.stdout) \(restored.stderr)")
        let bogus = folder.appendingPathComponent("bogus.backup").path
        try "not a backup\n".write(toFile: bogus, atomically: true, encoding: .utf8)
        let refused = try BallastProcess.run(["restore", bogus, "-c", config])
        #expect(refused.status != 0 && refused.stderr.contains("is not a Ballast backup"), "\(refused.stderr)")
        // Directory writes go through the node as well, named in the history as the CLI's.
        let csv = folder.appendingPathComponent("more.csv").path
        try "sip-uri,password,mailbox-database\nsip:dave@contoso.com,dave-demo,DB02\n".write(
            toFile: csv, atomically: true, encoding: .utf8)
        let imported = try BallastProcess.run(["users", "import", csv, "-c", config])
        #expect(
            imported.stdout.contains("1 user, 0 databases imported")
                && imported.stdout.contains("through the admin API"),
            "\(imported.stdout) \(imported.stderr)")
        // The node sees the new user within its poll interval.
        #expect(
            await eventually(timeout: .seconds(5)) {
                let mail = try? BallastProcess.run(
                    executable: curl,
                    ["-s", "-m", "5", "-u", "dave:dave-demo", "imap://127.0.0.1:\(base + 143)/", "-X", "ID NIL"])
                return mail?.stdout.contains("\"name\" \"EX3\"") == true
            })
        try "sip-uri,home-pool\nsip:erin@contoso.com,no-such-pool\n".write(
            toFile: csv, atomically: true, encoding: .utf8)
        let badImport = try BallastProcess.run(["users", "import", csv, "-c", config])
        #expect(badImport.status != 0 && badImport.stderr.contains("\(csv):2: home-pool"), "\(badImport.stderr)")
        let activated = try BallastProcess.run(["db", "activate", "DB01", "--on", "EX1", "-c", config])
        #expect(
            activated.stdout.contains("DB01: active copy EX3 -> EX1")
                && activated.stdout.contains("through the admin API"),
            "\(activated.stdout) \(activated.stderr)")
        let history = try BallastProcess.run(["db", "history", "DB01", "-c", config])
        #expect(history.stdout.contains("admin API (cli:"), "\(history.stdout)")
        let dashboard = try BallastProcess.run(executable: curl, ["-s", "-m", "5", "http://127.0.0.1:\(base)/"])
        #expect(dashboard.stdout.contains("<title>Ballast</title>"))
        // After DNS, HTTPS, IMAP and plans, every metric has its HELP and promtool finds nothing.
        let metrics = try BallastProcess.run(
            executable: URL(fileURLWithPath: "/bin/sh"),
            [
                "-c",
                "curl -sf -m 5 http://127.0.0.1:\(base)/metrics | tee /dev/stderr | /usr/bin/promtool check metrics",
            ])
        #expect(metrics.status == 0 && metrics.stdout.isEmpty, "\(metrics.stdout)")
        #expect(
            metrics.stderr.contains("# HELP ballast_mail_logins_total")
                && metrics.stderr.contains("# HELP ballast_dns_queries_total"))
        demo.stop()
        #expect(!demo.isRunning)
    }
}
