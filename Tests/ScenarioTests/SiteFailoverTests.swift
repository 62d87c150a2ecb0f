import BallastCodecs
import BallastCore
import BallastTestSupport
import Foundation
import Testing

/// Deployment D5 end to end, with the real binary: two sites, SIP front ends and IMAP mailbox
/// servers at each, DNS bound to the pools, users with contact lists in a SQLite store and a
/// backup. The primary site is stopped; `ballast plan failover` and `ballast apply` bring its users
/// to DR (homes, contact lists, DNS, SIP, IMAP); `ballast plan failback` brings them home with what
/// changed during DR. A second test kills `ballast apply` mid-plan and resumes it.
@Suite(.serialized, .tags(.timed)) struct SiteFailoverTests {
    final class Lab {
        let folder: URL
        let config: String
        let configPath: String
        let ports: [String: Int]
        var peers: [String: PeerProcess] = [:]

        init(users extra: Int = 0) throws {
            folder = try BallastProcess.makeDirectory()
            ports = [
                "fe": Ports.freeForTCPAndUDP(), "hq": Ports.freeForTCPAndUDP(), "dr": Ports.freeForTCPAndUDP(),
                "dns": Ports.freeForTCPAndUDP(), "imap": Ports.free(), "EX1": Ports.free(), "EX3": Ports.free(),
            ]
            let p = ports
            config = """
                sites: {hq: {hold-down: 0s}, dr: {hold-down: 0s}}
                checks:
                  sip: {type: sip-options, interval: 200ms, timeout: 150ms, rise: 1, fall: 2}
                pools:
                  pool-hq: {site: hq, backup-pool: pool-dr, check: sip, servers: [{name: fe-hq, address: 127.0.0.111:\(p["fe"]!)}]}
                  pool-dr: {site: dr, backup-pool: pool-hq, check: sip, servers: [{name: fe-dr, address: 127.0.0.121:\(p["fe"]!)}]}
                  mailbox-hq: {site: hq, servers: [{name: EX1, address: 127.0.0.1:\(p["EX1"]!)}]}
                  mailbox-dr: {site: dr, servers: [{name: EX3, address: 127.0.0.1:\(p["EX3"]!)}]}
                  mailbox: {servers: [{name: EX1, address: 127.0.0.1:\(p["EX1"]!)}, {name: EX3, address: 127.0.0.1:\(p["EX3"]!)}]}
                dns: {listen: [127.0.0.1:\(p["dns"]!)]}
                zones:
                  contoso.com:
                    soa: {primary: ns1.contoso.com, mailbox: hostmaster.contoso.com, minimum: 5}
                    when-all-down: all
                    records:
                      - {name: pool01, type: A, pool: pool-hq, ttl: 5}
                      - {name: pool02, type: A, pool: pool-dr, ttl: 5}
                      - {name: _sipinternaltls._tcp, type: SRV, priority: 0, weight: 10, port: 5061, target: pool01, pool: pool-hq}
                      - {name: _sipinternaltls._tcp, type: SRV, priority: 10, weight: 10, port: 5061, target: pool02, pool: pool-dr}
                sip:
                  realm: contoso.com
                  failure-detection: 300ms
                  fallback: 1s
                  registrars:
                    pool-hq: {listen: [udp://127.0.0.110:\(p["hq"]!)]}
                    pool-dr: {listen: [udp://127.0.0.120:\(p["dr"]!)]}
                store: {location: \(folder.path)/directory.db, poll-interval: 200ms, failure-delay: 100ms}
                backup: {folder: \(folder.path)/backups}
                relays:
                  imap: {listen: 127.0.0.1:\(p["imap"]!), protocol: imap, pool: mailbox}
                """
            configPath = folder.appendingPathComponent("ballast.yaml").path
            try config.write(toFile: configPath, atomically: true, encoding: .utf8)
            var users: [[String: Any]] = [
                [
                    "sip-uri": "sip:alice@contoso.com", "password": "alice-demo", "home-pool": "pool-hq",
                    "mailbox-database": "DB01",
                    "contacts": ["sip:bob@contoso.com"],
                ],
                [
                    "sip-uri": "sip:bob@contoso.com", "password": "bob-demo", "home-pool": "pool-dr",
                    "mailbox-database": "DB02",
                ],
            ]
            for index in 0..<extra {
                users.append(["sip-uri": "sip:u\(index)@contoso.com", "password": "x", "home-pool": "pool-hq"])
            }
            try importJSON([
                "realm": "contoso.com", "users": users,
                "databases": [
                    ["name": "DB01", "copies": ["EX1", "EX3"], "active": "EX1"],
                    ["name": "DB02", "copies": ["EX3", "EX1"], "active": "EX3"],
                ],
            ])
        }

        func importJSON(_ object: [String: Any]) throws {
            let path = folder.appendingPathComponent("import-\(UUID().uuidString.prefix(6)).json").path
            try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: path))
            let output = try ballast(["users", "import", "-c", configPath, path])
            guard output.status == 0 else { throw PeerStartError(output.stderr) }
        }

        @discardableResult
        func ballast(_ arguments: [String], timeout: Duration = .seconds(60)) throws -> BallastProcess.Output {
            try BallastProcess.run(
                arguments.first == "users" || arguments.contains("-c") ? arguments : arguments + ["-c", configPath],
                timeout: timeout)
        }

        func start(_ name: String, _ arguments: [String]) throws {
            peers[name] = try PeerProcess(BallastProcess.binary.path, ["sample-server"] + arguments)
        }

        func stop(_ name: String) {
            peers[name]?.stop()
            peers[name] = nil
        }

        func user(_ uri: String) throws -> [String: Any]? {
            let text = try ballast(["users", "export", "-c", configPath]).stdout
            let root = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
            return (root?["users"] as? [[String: Any]])?.first { $0["sip-uri"] as? String == uri }
        }

        func dig(_ name: String, _ type: String) throws -> [String] {
            try Dig.short(port: ports["dns"]!, name, type)
        }

        func register(_ user: String, at registrar: String) throws -> SIPMessage {
            let client = try SIPTestClient(
                port: ports[registrar]!, host: registrar == "hq" ? "127.0.0.110" : "127.0.0.120")
            return try client.register(
                aor: "sip:\(user)@contoso.com", password: "\(user)-demo", contacts: ["<sip:\(user)@127.0.0.1:7001>"],
                expires: 600
            ).response
        }

        func imapServer(_ user: String) throws -> String? {
            let socket = try TestSocket(port: ports["imap"]!, timeout: .seconds(3))
            _ = try socket.readLine()
            try socket.send("a LOGIN \(user) \(user)-demo\r\n")
            let answer = try socket.readLine() ?? ""
            return ["EX1", "EX3"].first { answer.contains("Logged in at \($0)") }
        }

        deinit {
            for peer in peers.values { peer.stop() }
            try? FileManager.default.removeItem(at: folder)
        }
    }

    @Test func thePrimarySiteIsLostAndComesBack() async throws {
        let lab = try Lab()
        let fe = lab.ports["fe"]!
        try lab.start("fe-hq", ["--sip", "--listen", "127.0.0.111:\(fe)", "--name", "fe-hq"])
        try lab.start("fe-dr", ["--sip", "--listen", "127.0.0.121:\(fe)", "--name", "fe-dr"])
        try lab.start("EX1", ["--imap", "--listen", "127.0.0.1:\(lab.ports["EX1"]!)", "--name", "EX1"])
        try lab.start("EX3", ["--imap", "--listen", "127.0.0.1:\(lab.ports["EX3"]!)", "--name", "EX3"])
        #expect(try lab.ballast(["backup"]).status == 0)

        try await withBallast(config: lab.config) { ballast in
            let both = ["0 10 5061 pool01.contoso.com.", "10 10 5061 pool02.contoso.com."]
            #expect(
                await eventually(timeout: .seconds(15)) {
                    (try? lab.dig("_sipinternaltls._tcp.contoso.com", "SRV")) == both
                }, "\(ballast.log)")
            #expect(await eventually(timeout: .seconds(5)) { (try? lab.register("alice", at: "hq").status) == 200 })
            #expect(try lab.imapServer("alice") == "EX1")
            let held = try TestSocket(port: lab.ports["imap"]!, timeout: .seconds(3))
            _ = try held.readLine()
            try held.send("h LOGIN alice alice-demo\r\n")
            #expect(try held.readLine()?.contains("EX1") == true)

            // The primary site is lost, and alice's contact list with it.
            lab.stop("fe-hq")
            lab.stop("EX1")
            var lost = try #require(try lab.user("sip:alice@contoso.com"))
            lost["contacts"] = []
            try lab.importJSON(["realm": "contoso.com", "users": [lost]])

            let planned = try lab.ballast(["plan", "failover", "--site", "hq"])
            #expect(planned.stdout.contains("move 1 user of pool-hq to pool-dr"), "\(planned.stdout) \(planned.stderr)")
            let applied = try lab.ballast(["apply"])
            #expect(applied.stdout.contains("applied"), "\(applied.stdout) \(applied.stderr)")
            #expect(applied.stdout.contains("the DNS listener answers so"), "\(applied.stdout)")

            let alice = try #require(try lab.user("sip:alice@contoso.com"))
            #expect(alice["home-pool"] as? String == "pool-dr")
            #expect(alice["contacts"] as? [String] == ["sip:bob@contoso.com"])
            // The node reads the plan's changes at its next poll of the store (200 ms here); the
            // mailbox copy activated at DR is the plan's last change that it routes by.
            // The apply returned once the node served it: the very next login and query follow.
            #expect(try lab.imapServer("alice") == "EX3", "\(ballast.log)")
            #expect(try lab.dig("_sipinternaltls._tcp.contoso.com", "SRV") == ["10 10 5061 pool02.contoso.com."])
            #expect(
                try lab.dig("pool01.contoso.com", "A") == [],
                "the fenced site's servers leave the answer, all-down policy or not")
            #expect(try lab.dig("pool02.contoso.com", "A") == ["127.0.0.121"])
            let atDR = try lab.register("alice", at: "dr")
            #expect(atDR.status == 200)
            #expect(atDR.first("Presence-State") == nil, "alice is homed at DR now, not served in resiliency mode")
            #expect(try lab.register("alice", at: "hq").status == 301)
            // EX1 died with the site: its session closed with it.
            #expect(held.isClosedByPeer())

            // During DR alice changes her contact list.
            var changed = alice
            changed["contacts"] = ["sip:carol@contoso.com"]
            try lab.importJSON(["realm": "contoso.com", "users": [changed]])

            // The site comes back; the way home keeps the change.
            try lab.start("fe-hq", ["--sip", "--listen", "127.0.0.111:\(fe)", "--name", "fe-hq"])
            try lab.start("EX1", ["--imap", "--listen", "127.0.0.1:\(lab.ports["EX1"]!)", "--name", "EX1"])
            let failback = try lab.ballast(["plan", "failback", "--site", "hq"])
            #expect(failback.stdout.contains("lift the fence of site hq"), "\(failback.stdout) \(failback.stderr)")
            // Paced (each step waits 1 s once marked running); meanwhile a second apply is refused:
            // the first holds the plan.
            let pacedStart = ContinuousClock.now
            let pacedLog = lab.folder.appendingPathComponent("paced.log")
            let paced = try PeerProcess(
                BallastProcess.binary.path, ["apply", "--step-delay", "1s", "-c", lab.configPath], output: pacedLog)
            defer { paced.stop() }
            let nodeRuns = await eventually(timeout: .seconds(10)) {
                (try? lab.ballast(["plan", "show"]).stdout.contains("[running")) == true
            }
            #expect(nodeRuns)
            let direct = try lab.ballast(["apply", "--direct"])
            #expect(
                direct.status != 0 && direct.stderr.contains("pid \(paced.pid)"), "\(direct.stdout) \(direct.stderr)")
            #expect(
                await eventually(timeout: .seconds(30)) {
                    ((try? String(contentsOf: pacedLog, encoding: .utf8)) ?? "").contains(": applied in")
                })
            let pacedOutput = (try? String(contentsOf: pacedLog, encoding: .utf8)) ?? ""
            let steps = pacedOutput.split(separator: "\n").filter { $0.contains(" running: ") }.count
            #expect(steps >= 4 && ContinuousClock.now - pacedStart >= .seconds(steps), "\(steps) steps: \(pacedOutput)")
            let home = try #require(try lab.user("sip:alice@contoso.com"))
            #expect(home["home-pool"] as? String == "pool-hq")
            #expect(home["contacts"] as? [String] == ["sip:carol@contoso.com"])
            #expect(try lab.dig("_sipinternaltls._tcp.contoso.com", "SRV") == both)
            #expect(await eventually(timeout: .seconds(5)) { (try? lab.register("alice", at: "hq").status) == 200 })
            #expect(await eventually(timeout: .seconds(3)) { (try? lab.imapServer("alice")) == "EX1" })
            let history = try lab.ballast(["db", "history", "sip:alice@contoso.com"]).stdout
            #expect(history.contains("plan failback-hq"))
            #expect(history.contains("plan failover-hq"))
        }
    }

    /// The "check DNS" step asks the DNS listener and waits for it; a listener that still names the
    /// lost site (here NSD serving the old zone where the config's listener is, Ballast's node being
    /// down) fails the step with what it answered, and the plan stops there.
    @Test func aCheckDNSStepFailsWithWhatTheListenerStillAnswers() async throws {
        let lab = try Lab()
        #expect(try lab.ballast(["backup"]).status == 0)
        let dns = lab.ports["dns"]!
        let folder = lab.folder.path
        try """
        $ORIGIN contoso.com.
        $TTL 5
        @ IN SOA ns1.contoso.com. hostmaster.contoso.com. 1 3600 600 604800 5
        @ IN NS ns1.contoso.com.
        ns1 IN A 127.0.0.1
        pool01 IN A 127.0.0.111
        pool02 IN A 127.0.0.121
        _sipinternaltls._tcp IN SRV 0 10 5061 pool01.contoso.com.
        _sipinternaltls._tcp IN SRV 10 10 5061 pool02.contoso.com.
        """.write(toFile: "\(folder)/contoso.com.zone", atomically: true, encoding: .utf8)
        try """
        server:
          ip-address: 127.0.0.1@\(dns)
          port: \(dns)
          username: ""
          chroot: ""
          zonesdir: "\(folder)"
          zonelistfile: "\(folder)/zone.list"
          database: ""
          pidfile: "\(folder)/nsd.pid"
          xfrdfile: "\(folder)/xfrd.state"
          xfrdir: "\(folder)"
          logfile: "\(folder)/nsd.log"
          server-count: 1
        remote-control:
          control-enable: no
        zone:
          name: contoso.com
          zonefile: "\(folder)/contoso.com.zone"
        """.write(toFile: "\(folder)/nsd.conf", atomically: true, encoding: .utf8)
        let nsd = try PeerProcess("/usr/sbin/nsd", ["-d", "-c", "\(folder)/nsd.conf"])
        defer { nsd.stop() }
        #expect(
            await eventually(timeout: .seconds(10)) { (try? lab.dig("pool01.contoso.com", "A")) == ["127.0.0.111"] })
        #expect(try lab.ballast(["plan", "failover", "--site", "hq", "--direct"]).status == 0)
        let started = ContinuousClock.now
        let applied = try lab.ballast(["apply", "--direct"], timeout: .seconds(60))
        let took = ContinuousClock.now - started
        #expect(applied.status != 0, "\(applied.stdout)")
        #expect(applied.stdout.contains("check DNS"), "\(applied.stdout)")
        #expect(
            applied.stderr.contains("still does not answer without hq's servers")
                && applied.stderr.contains("pool01.contoso.com. A: 127.0.0.111")
                && applied.stderr.contains("0 10 5061 pool01.contoso.com."), "\(applied.stderr)")
        #expect(took >= .seconds(10) && took < .seconds(40), "waited \(took)")
        let shown = try lab.ballast(["plan", "show"]).stdout
        #expect(!shown.contains("applied"), "\(shown)")
    }

    @Test func anApplyKilledMidPlanResumesWhereItStopped() async throws {
        let lab = try Lab(users: 300)
        #expect(try lab.ballast(["plan", "failover", "--site", "hq"]).status == 0)
        let apply = try PeerProcess(
            BallastProcess.binary.path, ["apply", "--step-delay", "2s", "-c", lab.configPath])
        // Killed once step 3 (the move) has started: steps 1 and 2 are recorded, the rest is not.
        let started = await eventually(timeout: .seconds(20)) {
            (try? lab.ballast(["plan", "show"]).stdout.contains(
                "3. move 301 users of pool-hq to pool-dr, with force  [running")) == true
        }
        #expect(started)
        apply.crash()
        let interrupted = try lab.ballast(["plan", "show"]).stdout
        #expect(interrupted.contains(": applying"), "\(interrupted)")
        let last = interrupted.split(separator: "\n").first { $0.contains("7. check SIP") } ?? ""
        #expect(last.contains("[pending]"), "\(interrupted)")
        // Out of order: a later step alone is refused.
        let refused = try lab.ballast(["apply", "--step", "7"])
        #expect(refused.status != 0 && refused.stderr.contains("apply in order"), "\(refused.stderr)")
        let resumed = try lab.ballast(["apply"])
        #expect(resumed.stdout.contains("step 2 already done"), "\(resumed.stdout)")
        #expect(resumed.stdout.contains(": applied"), "\(resumed.stdout) \(resumed.stderr)")
        let homes = try lab.ballast(["users", "export", "--format", "csv", "-c", lab.configPath]).stdout
        #expect(!homes.contains(",pool-hq,"))
    }
    /// One runner per plan: while one `ballast apply` runs, a second one started at each of its
    /// steps is refused with who holds the plan, and no user is moved twice.
    @Test func aSecondApplyIsRefusedAtEveryStep() async throws {
        let lab = try Lab(users: 300)
        #expect(try lab.ballast(["backup"]).status == 0)
        #expect(try lab.ballast(["plan", "failover", "--site", "hq"]).status == 0)
        let log = lab.folder.appendingPathComponent("first-apply.log")
        let first = try PeerProcess(
            BallastProcess.binary.path, ["apply", "--step-delay", "2s", "-c", lab.configPath], output: log)
        defer { first.stop() }
        for step in 1...7 {
            let running = await eventually(timeout: .seconds(30), every: .milliseconds(50)) {
                let shown = (try? lab.ballast(["plan", "show"]).stdout) ?? ""
                return shown.split(separator: "\n").contains {
                    $0.trimmingCharacters(in: .whitespaces).hasPrefix("\(step). ") && $0.contains("[running")
                }
            }
            #expect(
                running, "step \(step) was never seen running: \((try? lab.ballast(["plan", "show"]).stdout) ?? "")")
            let second = try lab.ballast(["apply"])
            #expect(second.status != 0, "step \(step): \(second.stdout)")
            #expect(
                second.stderr.contains("is being applied by cli:") && second.stderr.contains("pid \(first.pid)"),
                "step \(step): \(second.stderr)")
        }
        #expect(
            await eventually(timeout: .seconds(30)) {
                (try? lab.ballast(["plan", "show"]).stdout.contains(": applied")) == true
            })
        let history = try lab.ballast(["db", "history", "--limit", "5000"]).stdout
        let moves = history.split(separator: "\n").filter { $0.contains("user.home") }.count
        #expect(moves == 301, "\(moves) home changes for 301 users")
        // The step log keeps every record, each with its runner: only the first apply's.
        let shown = try lab.ballast(["plan", "show", "--log"]).stdout
        let logged = shown.split(separator: "\n").filter { $0.contains("  step ") && $0.contains(" cli:") }
        #expect(logged.count >= 14 && logged.allSatisfy { $0.contains("pid \(first.pid)") }, "\(shown)")
        // The lease is given back: applying again finds every step done.
        let again = try lab.ballast(["apply"])
        #expect(again.status == 0 && again.stdout.contains("step 7 already done"), "\(again.stdout) \(again.stderr)")
    }
}
