import BallastTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The real program under real signals, in front of real servers, driven by real clients.
@Suite(.serialized, .tags(.timed)) struct RunScenarioTests {
    static func config(
        relayPort: Int, adminPort: Int, servers: [(String, Int)], mode: String = "round-robin", extra: String = ""
    ) -> String {
        """
        node:
          shutdown-grace: 2s
        admin:
          listen: 127.0.0.1:\(adminPort)
          token: test-token
        checks:
          fast: {type: tcp, interval: 200ms, timeout: 150ms, rise: 1, fall: 2}
        pools:
          web:
            check: fast
            servers:
        \(servers.map { "      - {name: \($0.0), address: 127.0.0.1:\($0.1)}" }.joined(separator: "\n"))
        relays:
          front:
            listen: 127.0.0.1:\(relayPort)
            pool: web
            mode: \(mode)
        \(extra)
        """
    }

    func waitForListener(_ port: Int, _ ballast: BallastProcess) async -> Bool {
        await eventually(timeout: .seconds(20)) { ballast.isRunning && Ports.listeningSocketInode(port: port) != nil }
    }

    func answer(_ port: Int) throws -> String? {
        let socket = try TestSocket(port: port)
        return try socket.readLine()
    }

    /// The ports and servers of one scenario.
    struct Lab {
        var relayPort: Int
        var adminPort: Int
        var backends: [String: TestBackend]

        func servers(_ names: [String]) -> [(String, Int)] { names.map { ($0, backends[$0]!.port) } }
    }

    /// Starts servers named `names`, then `ballast run` in front of them (stopped by PID at the
    /// end), and runs `body` once the relay listens.
    func withLab(_ names: [String], _ body: (BallastProcess, Lab) async throws -> Void) async throws {
        var backends: [String: TestBackend] = [:]
        for name in names { backends[name] = try await TestBackend.start(name: name) }
        let started = Array(backends.values)
        try await using(started) { _ throws in
            let lab = Lab(relayPort: Ports.free(), adminPort: Ports.free(), backends: backends)
            try await withBallast(
                config: Self.config(relayPort: lab.relayPort, adminPort: lab.adminPort, servers: lab.servers(names))
            ) { ballast in
                #expect(await waitForListener(lab.relayPort, ballast))
                try await body(ballast, lab)
            }
        }
    }

    /// The admin port held by another program: the run ends with the reason and status 1, and
    /// the store it was opening is closed on the way out (its start is cancelled mid-query),
    /// never a crash.
    @Test func anAdminPortInUseEndsTheRunWithItsReason() async throws {
        let holder = try await TestBackend.start(name: "holder")
        try await using(holder) { holder throws in
            let store = try BallastProcess.makeDirectory()
            defer { try? FileManager.default.removeItem(at: store) }
            for attempt in 0..<3 {
                let config = Self.config(
                    relayPort: Ports.free(), adminPort: holder.port, servers: [("a", holder.port)],
                    extra: "store: {location: \(store.path)/directory-\(attempt).db, realm: contoso.com}")
                let ballast = try BallastProcess(config: config)
                let status = await ballast.waitForExit(timeout: .seconds(30))
                #expect(status == 1, "attempt \(attempt): \(ballast.log.suffix(2000))")
                #expect(ballast.log.contains("Address already in use"), "\(ballast.log.suffix(2000))")
                #expect(
                    ballast.log.contains("the admin API cannot listen on 127.0.0.1:\(holder.port)")
                        && ballast.log.contains("change admin.listen"), "\(ballast.log.suffix(2000))")
                #expect(
                    !ballast.log.contains("crashed") && !ballast.log.contains("Assertion failed"),
                    "\(ballast.log.prefix(2000))")
            }
        }
    }

    @Test func sighupReloadKeepsTheListenerAndAHeldConnection() async throws {
        try await withLab(["a", "b"]) { ballast, lab in
            let relayPort = lab.relayPort
            let adminPort = lab.adminPort
            let inode = Ports.listeningSocketInode(port: relayPort)
            let held = try TestSocket(port: relayPort)
            let heldBy = try #require(try held.readLine())
            #expect(Set(try (0..<4).map { _ in try answer(relayPort) }) == ["a", "b"])

            // Reload: b leaves the pool, a new relay appears.
            let secondPort = Ports.free()
            try ballast.writeConfig(
                Self.config(
                    relayPort: relayPort, adminPort: adminPort, servers: lab.servers(["a"]),
                    extra: "  second:\n    listen: 127.0.0.1:\(secondPort)\n    pool: web"))
            ballast.signal(SIGHUP)
            #expect(await eventually { ballast.log.contains("config applied") })
            #expect(await waitForListener(secondPort, ballast))
            #expect(Ports.listeningSocketInode(port: relayPort) == inode)
            try held.send("held across the reload\n")
            #expect(try held.readLine() == "held across the reload")
            #expect(try (0..<4).map { _ in try answer(relayPort) } == ["a", "a", "a", "a"])
            #expect(try answer(secondPort) == "a")

            // A broken config is refused, logged, and the running one stays.
            try ballast.writeConfig("pools:\n  web:\n    servers: [not-an-address]\n")
            ballast.signal(SIGHUP)
            #expect(await eventually { ballast.log.contains("config reload refused; the running config stays") })
            #expect(ballast.log.contains("ballast.yaml:3:") && ballast.log.contains("pools.web.servers[0]"))
            #expect(ballast.isRunning)
            #expect(try answer(relayPort) == "a")
            #expect(try answer(secondPort) == "a")
            try held.send("still held\n")
            #expect(try held.readLine() == "still held")
            _ = heldBy
        }
    }

    @Test func sigtermDrainsThenExits() async throws {
        try await withLab(["a"]) { ballast, lab in
            let relayPort = lab.relayPort
            let held = try TestSocket(port: relayPort)
            #expect(try held.readLine() == "a")
            ballast.signal(SIGTERM)
            // It stops accepting at once...
            #expect(await eventually { (try? TestSocket(port: relayPort)) == nil })
            // ...keeps serving the open connection...
            try held.send("last words\n")
            #expect(try held.readLine() == "last words", "\(ballast.log)")
            #expect(ballast.isRunning, "\(ballast.log)")
            // ...and exits as soon as it ends.
            held.close()
            #expect(await ballast.waitForExit(timeout: .seconds(3)) == 0)
            #expect(ballast.log.contains("node stopped"))
        }
    }

    /// A plan applied in the background belongs to the node: SIGTERM cancels it in its step and
    /// the node exits at once, not after the step; the next apply resumes it to the end.
    @Test func sigtermCancelsAPlanAppliedInTheBackgroundAndTheNextApplyResumesIt() async throws {
        let folder = try BallastProcess.makeDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let admin = Ports.free()
        let config = """
            admin: {listen: 127.0.0.1:\(admin), token: plan-secret}
            sites: {hq: {hold-down: 0s}, dr: {}}
            pools:
              pool-hq: {site: hq, backup-pool: pool-dr, servers: [{name: a, address: 127.0.0.1:\(Ports.free())}]}
              pool-dr: {site: dr, backup-pool: pool-hq, servers: [{name: b, address: 127.0.0.1:\(Ports.free())}]}
            store: {location: \(folder.path)/directory.db, realm: contoso.com, poll-interval: 100ms}
            """
        let written = try BallastProcess.writeConfig(
            config, importing: "sip-uri,password,home-pool\nsip:alice@contoso.com,pw,pool-hq\n", in: folder)
        #expect(written.failedImport == nil, "\(written.failedImport.map { $0.stderr } ?? "")")
        let curl = URL(fileURLWithPath: "/usr/bin/curl")
        func call(_ method: String, _ path: String) throws -> String {
            try BallastProcess.run(
                executable: curl,
                ["-s", "-H", "Authorization: Bearer plan-secret", "-X", method, "http://127.0.0.1:\(admin)\(path)"]
            ).stdout
        }

        try await withBallast(config: config) { ballast throws in
            #expect(
                await eventually(timeout: .seconds(10)) { (try? call("GET", "/healthz")) == "ok\n" }, "\(ballast.log)")
            #expect(try call("POST", "/api/plans/failover?site=hq").contains("failover-hq-r1"))
            // Each step waits a minute once it is marked running: the plan is stopped inside one.
            #expect(try call("POST", "/api/plans/failover-hq-r1/apply?step-delay-ms=60000").contains("applying"))
            #expect(await eventually { ballast.log.contains("step 1 running") }, "\(ballast.log)")
            let stopped = ContinuousClock.now
            ballast.signal(SIGTERM)
            #expect(await ballast.waitForExit(timeout: .seconds(20)) == 0)
            #expect(ContinuousClock.now - stopped < .seconds(20))
            #expect(ballast.log.contains("plan stopped"), "\(ballast.log)")
            #expect(!ballast.log.contains("step 1 done"))
        }
        try await withBallast(config: config) { ballast throws in
            #expect(
                await eventually(timeout: .seconds(10)) { (try? call("GET", "/healthz")) == "ok\n" }, "\(ballast.log)")
            let applied = await firstAnswer(timeout: .seconds(30)) { () -> String? in
                let answer = try? call("POST", "/api/plans/failover-hq-r1/apply?wait=true")
                return answer?.contains("\"status\" : \"applied\"") == true ? answer : nil
            }
            #expect(applied != nil, "\(ballast.log)")
        }
    }

    @Test func sigtermClosesLeftoversAtTheGraceDeadline() async throws {
        try await withLab(["a"]) { ballast, lab in
            let relayPort = lab.relayPort
            let held = try TestSocket(port: relayPort, timeout: .seconds(6))
            #expect(try held.readLine() == "a")
            let started = ContinuousClock.now
            ballast.signal(SIGTERM)
            #expect(await ballast.waitForExit(timeout: .seconds(6)) == 0)
            let took = ContinuousClock.now - started
            #expect(took >= .milliseconds(1900), "exited after \(took), before the 2 s grace")
            #expect(held.isClosedByPeer())
        }
    }

    @Test func statusAndDrainFromTheCommandLine() async throws {
        try await withLab(["a", "b"]) { ballast, lab in
            let relayPort = lab.relayPort
            let adminPort = lab.adminPort
            #expect(await eventually { Ports.listeningSocketInode(port: adminPort) != nil })
            let admin = ["--admin", "127.0.0.1:\(adminPort)", "--token", "test-token"]

            #expect(
                try await eventually {
                    let status = try BallastProcess.run(["status"] + admin)
                    return status.status == 0 && status.stdout.contains("pool web: serving from primaries")
                        && status.stdout.split(separator: "\n").filter { $0.contains(" up ") }.count == 2
                })
            let held = try TestSocket(port: relayPort)
            let heldBy = try #require(try held.readLine())

            let drain = try BallastProcess.run(["drain", "web/\(heldBy)"] + admin)
            #expect(drain.status == 0)
            #expect(drain.stdout.contains("web/\(heldBy): drained"))
            let other = heldBy == "a" ? "b" : "a"
            #expect(try (0..<4).map { _ in try answer(relayPort) } == [other, other, other, other])
            try held.send("not cut\n")
            #expect(try held.readLine() == "not cut")
            let status = try BallastProcess.run(["status"] + admin)
            #expect(status.stdout.contains("up,drained"))

            #expect(try BallastProcess.run(["undrain", "web/\(heldBy)"] + admin).status == 0)
            #expect(Set(try (0..<4).map { _ in try answer(relayPort) }) == ["a", "b"])

            let unknown = try BallastProcess.run(["drain", "web/zz"] + admin)
            #expect(unknown.status == 1)
            #expect(unknown.stderr.contains("404"))
            let noToken = try BallastProcess.run(["status", "--admin", "127.0.0.1:\(adminPort)"])
            #expect(noToken.status == 1)
            #expect(noToken.stderr.contains("401"))
            _ = ballast
        }
    }

    @Test func metricsAreServedForPrometheus() async throws {
        try await withLab(["a"]) { ballast, lab in
            let relayPort = lab.relayPort
            let adminPort = lab.adminPort
            #expect(await eventually { Ports.listeningSocketInode(port: adminPort) != nil })
            for _ in 0..<3 { _ = try answer(relayPort) }
            let socket = try TestSocket(port: adminPort)
            try socket.send("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            let response = String(decoding: try socket.readToEnd(limit: 1 << 20), as: UTF8.self)
            #expect(response.hasPrefix("HTTP/1.1 200"))
            #expect(response.contains("ballast_relay_connections_total{relay=\"front\"} 3"))
            #expect(response.contains("ballast_server_up"))
            _ = ballast
        }
    }
}
