import BallastCodecs
import BallastCore
import BallastTestSupport
import Foundation
import Testing

/// Deployment D4 end to end: the example config moved onto loopback (registrars at
/// 127.0.0.110 and .120, the director at .109, front ends at .111-.112 and .121-.122, each
/// port a free one, timings shortened), the real binary, `ballast sample-server --sip` as the
/// front ends, sipsak and our own client as phones, dig for the SRV records.
@Suite(.serialized, .tags(.timed)) struct LyncCentralSiteResilienceTests {
    static let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("examples")

    @Test func aLostPoolsUsersRegisterAtTheBackupAndGoHomeAfterFallback() async throws {
        let folder = try BallastProcess.makeDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let certificates = try TestCertificates(names: ["pool01.contoso.com", "pool02.contoso.com"])
        let certs = folder.appendingPathComponent("certs")
        try FileManager.default.createDirectory(at: certs, withIntermediateDirectories: true)
        try certificates.certificatePEM.write(
            to: certs.appendingPathComponent("sip.pem"), atomically: true, encoding: .utf8)
        try certificates.keyPEM.write(to: certs.appendingPathComponent("sip.key"), atomically: true, encoding: .utf8)
        let users = Self.examples.appendingPathComponent("users/lync-central-site-resilience.yaml").path

        let fePort = Ports.freeForTCPAndUDP()
        let hqPort = Ports.freeForTCPAndUDP()
        let drPort = Ports.freeForTCPAndUDP()
        let directorPort = Ports.freeForTCPAndUDP()
        let dnsPort = Ports.freeForTCPAndUDP()
        let adminPort = Ports.free()
        var config = try String(
            contentsOf: Self.examples.appendingPathComponent("lync-central-site-resilience.yaml"), encoding: .utf8)
        for (from, to) in [
            ("10.0.1.53:53", "127.0.0.1:\(dnsPort)"),
            // TLS one port above TCP and UDP: on loopback each needs a port of its own here.
            ("10.0.1.10:5061", "127.0.0.110:\(hqPort + 1)"), ("10.0.1.10:5060", "127.0.0.110:\(hqPort)"),
            ("10.0.2.10:5061", "127.0.0.120:\(drPort + 1)"), ("10.0.2.10:5060", "127.0.0.120:\(drPort)"),
            ("10.0.1.9:5061", "127.0.0.109:\(directorPort + 1)"), ("10.0.1.9:5060", "127.0.0.109:\(directorPort)"),
            ("10.0.1.11", "127.0.0.111"), ("10.0.1.12", "127.0.0.112"), ("10.0.2.11", "127.0.0.121"),
            ("10.0.2.12", "127.0.0.122"),
            // The sample front ends speak SIP over UDP and TCP, not TLS.
            ("transport: tls\n    port: 5061", "transport: udp\n    port: \(fePort)"),
            ("fallback: 30s", "fallback: 2s"),
            ("users-file: users/lync-central-site-resilience.yaml", "users-file: \(users)"),
            ("certs/", certs.path + "/"),
        ] {
            config = config.replacingOccurrences(of: from, with: to)
        }
        config += "\nadmin:\n  listen: 127.0.0.1:\(adminPort)\n"

        let frontEnds = FrontEnds(port: fePort)
        defer { frontEnds.stopAll() }
        for address in ["127.0.0.111", "127.0.0.112", "127.0.0.121", "127.0.0.122"] { try frontEnds.start(address) }

        try await withBallast(config: config) { ballast in
            func dig(_ name: String) throws -> [String] {
                try Dig.short(port: dnsPort, name, "SRV")
            }
            func register(_ user: String, at port: Int, host: String) throws -> SIPMessage {
                let client = try SIPTestClient(port: port, host: host)
                return try client.register(
                    aor: "sip:\(user)@contoso.com", password: "\(user)-demo",
                    contacts: ["<sip:\(user)@127.0.0.1:7001>"],
                    expires: 600, algorithm: .md5
                ).response
            }
            let both = ["0 10 5061 pool01.contoso.com.", "10 10 5061 pool02.contoso.com."]
            #expect(
                await eventually(timeout: .seconds(15)) { (try? dig("_sipinternaltls._tcp.contoso.com")) == both },
                "\((try? dig("_sipinternaltls._tcp.contoso.com")) ?? []) \(ballast.log)")
            // Settled: the home registrar binds, the others redirect, the director redirects.
            #expect(
                await eventually(timeout: .seconds(5)) {
                    (try? register("alice", at: hqPort, host: "127.0.0.110").status) == 200
                },
                "\(ballast.log)")
            let redirect = try register("alice", at: drPort, host: "127.0.0.120")
            #expect(redirect.status == 301)
            #expect(
                redirect.all("Contact") == [
                    "<sip:pool01.contoso.com:5061;transport=tls>;q=0.7",
                    "<sip:pool02.contoso.com:5061;transport=tls>;q=0.3",
                ])
            let sipsak = try BallastProcess.run(
                executable: URL(fileURLWithPath: "/usr/bin/sipsak"),
                [
                    "-U", "-s", "sip:bob@127.0.0.120:\(drPort)", "-u", "bob", "-a", "bob-demo", "-x", "600", "-i",
                    "-C", "sip:bob@127.0.0.1:7002",
                ])
            #expect(sipsak.status == 0, "\(sipsak.stdout)\(sipsak.stderr)")
            // Both bindings went through the registrations file: its batches, syncs and the
            // wait of their REGISTERs are at /metrics.
            let metrics = try TestSocket(port: adminPort)
            try metrics.send("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            let page = String(decoding: try metrics.readToEnd(limit: 1 << 20), as: UTF8.self)
            for name in [
                "ballast_sip_journal_batch_changes", "ballast_sip_journal_sync_seconds",
                "ballast_sip_journal_wait_seconds",
            ] {
                let count = page.split(separator: "\n").first { $0.hasPrefix("\(name)_count") }.flatMap {
                    $0.split(separator: " ").last
                }
                #expect(count.flatMap { Int($0) }.map { $0 >= 1 } == true, "\(name) in \(page)")
            }

            // The hq site's front ends die: within failure detection, alice is served at dr.
            frontEnds.stop(["127.0.0.111", "127.0.0.112"])
            let stopped = ContinuousClock.now
            let resilient = await firstAnswer(timeout: .seconds(6)) {
                (try? register("alice", at: drPort, host: "127.0.0.120")).flatMap { $0.status == 200 ? $0 : nil }
            }
            let failover = stopped.duration(to: .now)
            #expect(
                resilient?.first("Presence-State")
                    == "register-action=\"added\";primary-cluster-type=\"central\";is-connected-to-primary=\"no\"",
                "\(ballast.log)")
            #expect(failover < .seconds(3), "failover took \(failover)")
            #expect(try dig("_sipinternaltls._tcp.contoso.com") == ["10 10 5061 pool02.contoso.com."])
            #expect(ballast.log.contains("sip home pool lost"))

            // They come back: after the fallback interval the next refresh is sent home.
            try frontEnds.start("127.0.0.111")
            try frontEnds.start("127.0.0.112")
            let home = await firstAnswer(timeout: .seconds(10)) {
                (try? register("alice", at: drPort, host: "127.0.0.120")).flatMap { $0.status == 301 ? $0 : nil }
            }
            #expect(home?.all("Contact").first == "<sip:pool01.contoso.com:5061;transport=tls>;q=0.7", "\(ballast.log)")
            #expect(try dig("_sipinternaltls._tcp.contoso.com") == both)
            #expect(ballast.log.contains("sip home pool back"))
        }
    }
}

/// The sample front ends of the scenario, stopped by PID.
final class FrontEnds {
    let port: Int
    private var running: [String: PeerProcess] = [:]

    init(port: Int) { self.port = port }

    func start(_ address: String) throws {
        running[address] = try PeerProcess(
            BallastProcess.binary.path, ["sample-server", "--sip", "--listen", "\(address):\(port)", "--name", address])
    }

    func stop(_ addresses: [String]) {
        for address in addresses {
            running[address]?.stop()
            running[address] = nil
        }
    }

    func stopAll() { stop(Array(running.keys)) }
}

/// The first non-nil result of `attempt`, tried every 100 ms until `timeout`.
func firstAnswer<T>(timeout: Duration, _ attempt: () async -> T?) async -> T? {
    var answer: T?
    _ = await eventually(timeout: timeout, every: .milliseconds(100)) {
        answer = await attempt()
        return answer != nil
    }
    return answer
}
