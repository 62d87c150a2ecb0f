import BallastTestSupport
import Foundation
import Testing

/// The dashboard in a real browser (headless Chromium): a banner that says at a glance whether
/// every site serves, sites, traffic plots, pools and servers (fenced and backup ones marked), the
/// directory, the current plan and the history, as the admin API has them; without the token the
/// page asks for it.
@Suite(.serialized) struct DashboardTests {
    static let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    func dom(_ url: String) throws -> String {
        let chromium = try #require(
            Self.chromium, "chromium is not installed: apt-get install chromium (scripts/test.sh does)")
        return try BallastProcess.run(
            executable: URL(fileURLWithPath: chromium),
            ["--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=3000", "--dump-dom", url],
            timeout: .seconds(60)
        ).stdout
    }

    @Test func theDashboardShowsSitesPoolsThePlanAndTheHistory() async throws {
        let folder = try BallastProcess.makeDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let admin = Ports.free()
        let web = Ports.free()
        let relay = Ports.free()
        let sample = try PeerProcess(
            BallastProcess.binary.path, ["sample-server", "--listen", "127.0.0.1:\(web)", "--name", "web1"])
        defer { sample.stop() }
        let config = """
            admin: {listen: 127.0.0.1:\(admin), token: dashboard-secret}
            sites: {hq: {hold-down: 0s}, dr: {}}
            checks:
              web: {type: http, path: /, interval: 200ms, timeout: 150ms, rise: 1, fall: 1}
            pools:
              pool-hq: {site: hq, backup-pool: pool-dr, check: web, servers: [{name: web1, address: 127.0.0.1:\(web)}]}
              pool-dr: {site: dr, backup-pool: pool-hq, check: web, servers: [{name: web2, address: 127.0.0.1:\(Ports.free())}, {name: spare, address: 127.0.0.1:\(Ports.free()), backup: true}]}
            relays:
              front: {listen: 127.0.0.1:\(relay), pool: pool-hq}
            store: {location: \(folder.path)/directory.db, realm: contoso.com, poll-interval: 100ms}
            """
        let written = try BallastProcess.writeConfig(
            config,
            importing: "sip-uri,password,home-pool\nsip:alice@contoso.com,pw,pool-hq\nsip:bob@contoso.com,pw,pool-dr\n",
            in: folder)
        #expect(written.failedImport == nil, "\(written.failedImport.map { $0.stderr } ?? "")")

        try await withBallast(config: config) { ballast in
            let url = "http://127.0.0.1:\(admin)/?token=dashboard-secret"
            // Without the token, the page asks for it instead of showing an API error.
            let bare = try dom("http://127.0.0.1:\(admin)/")
            #expect(bare.contains("<section class=\"full\" id=\"signin\"><h2>Admin token</h2>"), "\(bare)")
            #expect(bare.contains("waiting for the admin token") && !bare.contains("bearer token is required"))
            // Some traffic through the relay, for the plots.
            for _ in 0..<5 {
                _ = try? BallastProcess.run(
                    executable: URL(fileURLWithPath: "/usr/bin/curl"), ["-s", "-m", "2", "http://127.0.0.1:\(relay)/"])
            }
            #expect(
                await eventually(timeout: .seconds(10)) { (try? dom(url))?.contains("data-pool=\"pool-hq\"") == true },
                "\(ballast.log)")
            let before = try dom(url)
            #expect(before.contains("Every site serving from its own servers"))
            #expect(before.contains("data-traffic=\"relay front\"") && before.contains("data-traffic=\"pool pool-hq\""))
            #expect(before.contains("connections/s") && before.contains("<svg"))
            #expect(before.contains("<section class=\"full\" id=\"error\" hidden=\"\">"), "an empty error box is shown")
            #expect(
                before.contains("data-server=\"spare\"") && before.contains("<span class=\"tag backup\">backup</span>"))
            #expect(before.contains("data-server=\"web1\" data-shown=\"up\""))
            #expect(before.contains("data-site=\"hq\""))
            #expect(before.contains("web1"))
            #expect(before.contains(">primaries<"))
            #expect(before.contains("2</b> users"))
            #expect(before.contains("no plan yet"))

            let api = ["-s", "-H", "Authorization: Bearer dashboard-secret", "-X", "POST"]
            let curl = URL(fileURLWithPath: "/usr/bin/curl")
            let made = try BallastProcess.run(
                executable: curl, api + ["http://127.0.0.1:\(admin)/api/plans/failover?site=hq"])
            #expect(made.stdout.contains("\"id\" : \"failover-hq-r1\""), "\(made.stdout)")
            _ = try BallastProcess.run(
                executable: curl, api + ["http://127.0.0.1:\(admin)/api/plans/failover-hq-r1/apply"])
            #expect(await eventually(timeout: .seconds(10)) { (try? dom(url))?.contains(">fenced<") == true })
            let after = try dom(url)
            #expect(after.contains("Site hq fenced"))
            #expect(
                after.contains("data-server=\"web1\" data-shown=\"fenced\""),
                "a fenced site's server still shows its health")
            // One time format: local HH:MM:SS, never the API's ISO text.
            #expect(!after.contains("T0") && !after.contains("Z<") && !after.contains("+00:00"))
            #expect(after.range(of: #"changed \d\d:\d\d:\d\d"#, options: .regularExpression) != nil)
            #expect(after.contains("failover-hq-r1"))
            #expect(after.contains(">applied<"))
            #expect(after.contains("site.fence"))
            #expect(after.contains("pool-dr 2"))
            // Without the token the API refuses, and the page says why.
            let refused = try dom("http://127.0.0.1:\(admin)/api/status")
            #expect(refused.contains("bearer token is required"))
        }
    }
}
