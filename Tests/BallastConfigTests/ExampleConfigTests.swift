import BallastConfig
import BallastCore
import BallastTestSupport
import Foundation
import Testing

/// Every config in examples/ must load: they are the deployments of DESIGN.md.
@Suite struct ExampleConfigTests {
    static let examples: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("examples")

    static var files: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: examples.path)) ?? []).filter { $0.hasSuffix(".yaml") }
            .sorted()
    }

    @Test func thereAreExamples() {
        #expect(Self.files.contains("exchange-2010-cas.yaml"))
    }

    /// Each example loads from a copy beside the certificate files it names (certs/), which a
    /// deployment brings and the repository does not hold.
    @Test(arguments: files)
    func loads(file: String) throws {
        let folder = try BallastProcess.makeDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let certificates = try TestCertificates(names: ["pool01.contoso.com"])
        let certs = folder.appendingPathComponent("certs")
        try FileManager.default.createDirectory(at: certs, withIntermediateDirectories: true)
        try certificates.caPEM.write(to: certs.appendingPathComponent("ca.pem"), atomically: true, encoding: .utf8)
        try certificates.certificatePEM.write(
            to: certs.appendingPathComponent("webext.pem"), atomically: true, encoding: .utf8)
        try certificates.keyPEM.write(to: certs.appendingPathComponent("webext.key"), atomically: true, encoding: .utf8)
        try certificates.certificatePEM.write(
            to: certs.appendingPathComponent("sip.pem"), atomically: true, encoding: .utf8)
        try certificates.keyPEM.write(to: certs.appendingPathComponent("sip.key"), atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(
            at: Self.examples.appendingPathComponent("users"), to: folder.appendingPathComponent("users"))
        let copy = folder.appendingPathComponent(file)
        try FileManager.default.copyItem(at: Self.examples.appendingPathComponent(file), to: copy)
        let topology = try ConfigLoader.load(path: copy.path)
        if let sip = topology.sip, topology.store == nil {
            #expect(!(try UsersFileReader.load(settings: sip, topology: topology).users.isEmpty))
        }
        if let store = topology.store {
            let name = file.replacingOccurrences(of: ".yaml", with: ".json")
            let text = try String(contentsOf: Self.examples.appendingPathComponent("users/\(name)"), encoding: .utf8)
            let imported = try UserImport.parse(text, format: .json, file: name, realm: store.realm, topology: topology)
            #expect(!imported.users.isEmpty && !imported.databases.isEmpty)
        }
    }

    @Test func siteFailoverIsDeploymentD5() throws {
        let topology = try Self.loadWithPlaceholderCertificates("site-failover.yaml")
        #expect(topology.sites.map(\.name) == ["hq", "dr"])
        #expect(topology.store?.standbys == ["postgres://ballast:secret@db-dr.contoso.com:5432/ballast"])
        #expect(topology.store?.pendingPlanFile.hasSuffix("state/directory.pending-plan.json") == true)
        #expect(topology.backup?.folder == "/srv/dr-backups/ballast")
        let text = try String(
            contentsOf: Self.examples.appendingPathComponent("users/site-failover.json"), encoding: .utf8)
        let users = try UserImport.parse(
            text, format: .json, file: "site-failover.json", realm: "contoso.com", topology: topology)
        let directory = Directory(users: users.users, databases: users.databases)
        let plan = try PlanBuilder.failover(site: "hq", topology: topology, directory: directory)
        #expect(
            plan.steps.map(\.action) == [
                .promoteStore, .fenceSite("hq"), .moveUsers(from: "pool-hq", to: "pool-dr"),
                .activateCopies(site: "hq"),
                .restoreUserData(pool: "pool-hq"), .repointDNS(site: "hq"), .switchSIPRedirects(site: "hq"),
            ])
        #expect(plan.steps[2].summary.contains("move 2 users of pool-hq to pool-dr"))
        #expect(plan.steps[3].summary.contains("DB01, DB02"))
    }

    @Test func exchange2013IsDeploymentD3() throws {
        let topology = try Self.loadWithPlaceholderCertificates("exchange-2013.yaml")
        #expect(topology.relays.map(\.protocol) == [.imap, .imaps, .pop3, .pop3s, .https])
        #expect(topology.relays.allSatisfy { $0.persistence == .none })
        #expect(topology.relay(named: "owa")?.http?.userRouting == .basic)
        #expect(topology.relay(named: "imaps")?.forwardPort == 143)
        #expect(topology.store?.realm == "contoso.com")
    }

    /// Loads an example from a copy beside placeholder certificate files (for examples whose
    /// certificates are only named, not read, at load).
    static func loadWithPlaceholderCertificates(_ file: String) throws -> Topology {
        let folder = try BallastProcess.makeDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let certs = folder.appendingPathComponent("certs")
        try FileManager.default.createDirectory(at: certs, withIntermediateDirectories: true)
        for name in ["ca.pem", "webext.pem", "webext.key"] {
            try "placeholder".write(to: certs.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        let copy = folder.appendingPathComponent(file)
        try FileManager.default.copyItem(at: Self.examples.appendingPathComponent(file), to: copy)
        return try ConfigLoader.load(path: copy.path)
    }

    @Test func lyncWebServicesIsDeploymentD1() throws {
        let topology = try Self.loadWithPlaceholderCertificates("lync-web-services.yaml")
        let inside = try #require(topology.relay(named: "internal-web"))
        #expect(inside.persistence == .sourceAddress(timeout: .seconds(1800), capacity: 100_000))
        #expect(inside.timeouts.idle >= .seconds(1800))
        let external = try #require(topology.relay(named: "external-web"))
        #expect(external.protocol == .https && external.http?.certificates.count == 1)
        #expect(external.http?.serverTLS?.verify == true && external.http?.serverTLS?.caFile != nil)
        guard case .cookie(let cookie) = external.persistence else {
            Issue.record("the external relay pins by cookie")
            return
        }
        #expect(cookie.secure && cookie.httpOnly)
    }

    @Test func exchange2010CASIsDeploymentD2() throws {
        let topology = try ConfigLoader.load(path: Self.examples.appendingPathComponent("exchange-2010-cas.yaml").path)
        #expect(Set(topology.relays.map(\.listen.port)) == [443, 110, 995, 143, 993, 135, 59532, 59533])
        #expect(topology.relays.allSatisfy { $0.mode == .sourceHash && $0.protocol == .tcp && $0.pool == "cas" })
        let pool = try #require(topology.pool(named: "cas"))
        guard case .tcp = pool.check?.kind else {
            Issue.record("D2 uses a TCP check")
            return
        }
        // Each relay's port is checked on every CAS.
        #expect(topology.probes.filter { $0.key.server.pool == "cas" }.count == 8 * pool.servers.count)
        // SMTP goes by DNS: the MX names the hub servers' A set.
        let zone = try #require(topology.zones.first)
        #expect(zone.records.contains { $0.value == .pool("hub") })
        #expect(zone.records.contains { if case .mx = $0.value { return true } else { return false } })
    }
}
