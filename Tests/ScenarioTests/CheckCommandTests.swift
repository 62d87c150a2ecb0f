import BallastTestSupport
import Foundation
import Testing

/// `ballast check`, as an operator runs it.
@Suite struct CheckCommandTests {
    static let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("examples")

    @Test func aValidConfigPasses() throws {
        let path = Self.examples.appendingPathComponent("exchange-2010-cas.yaml").path
        let output = try BallastProcess.run(["check", "-c", path])
        #expect(output.status == 0)
        #expect(output.stdout.contains("ok: 1 site, 2 pools, 5 servers, 8 relays"))
        #expect(output.stdout.contains("zone contoso.com.: 7 records, 1 following pool health; DNS on 10.0.0.53:53"))
        #expect(
            output.stdout.contains(
                "relay cas-59533: tcp 10.0.0.10:59533 -> pool cas, source-hash, source affinity 30m x 200000"))
    }

    /// A newcomer's first steps from a fresh clone: make the examples' certificates with the
    /// command the README gives, then check every example; each checks clean.
    @Test func everyExampleChecksCleanOnceItsCertificatesAreMade() throws {
        let directory = try BallastProcess.makeDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let copy = directory.appendingPathComponent("examples")
        try FileManager.default.copyItem(at: Self.examples, to: copy)
        try? FileManager.default.removeItem(at: copy.appendingPathComponent("certs"))
        let names = try FileManager.default.contentsOfDirectory(atPath: copy.path).filter { $0.hasSuffix(".yaml") }
            .sorted()
        #expect(names.count >= 6, "\(names)")
        let made = try BallastProcess.run(["make-certs", copy.appendingPathComponent("certs").path])
        #expect(made.status == 0, "\(made.stderr)")
        for file in ["ca.pem", "webext.pem", "webext.key", "sip.pem", "sip.key"] {
            #expect(made.stdout.contains("/certs/\(file)"), "\(made.stdout)")
        }
        let key = try FileManager.default.attributesOfItem(atPath: copy.appendingPathComponent("certs/sip.key").path)
        #expect((key[.posixPermissions] as? Int) == 0o600)
        for name in names {
            let output = try BallastProcess.run(["check", "-c", copy.appendingPathComponent(name).path])
            #expect(output.status == 0 && output.stdout.contains(": ok: "), "\(name): \(output.stderr)")
        }
    }

    @Test func versionAndHelpExitCleanly() throws {
        let version = try BallastProcess.run(["--version"])
        #expect(version.status == 0)
        #expect(version.stdout.split(separator: ".").count == 3, "\(version.stdout)")
        let help = try BallastProcess.run(["--help"])
        #expect(help.status == 0 && help.stdout.contains("make-certs"))
        // Both plans are made under `plan`; the old top-level spelling is kept, out of the help.
        #expect(help.stdout.contains("plan ") && !help.stdout.contains("\n  failback"))
        let failback = try BallastProcess.run(["plan", "failback", "--help"])
        #expect(failback.status == 0 && failback.stdout.contains("--site"))
    }

    @Test func everyErrorIsPrintedAndTheExitCodeSaysSo() throws {
        let directory = try BallastProcess.makeDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("broken.yaml").path
        try """
        pools:
          web:
            servers: [10.0.0.1:80, 10.0.0.2:8o]
        relays:
          front:
            listen: 10.0.0.10:443
            pool: wbe
            mode: round_robin
        """.write(toFile: path, atomically: true, encoding: .utf8)
        let output = try BallastProcess.run(["check", "-c", path])
        #expect(output.status == 1)
        let lines = output.stderr.split(separator: "\n")
        #expect(lines.contains { $0.hasPrefix("error: \(path):3:") && $0.contains("pools.web.servers[1]") })
        #expect(
            lines.contains {
                $0.hasPrefix("error: \(path):7:11: relays.front.pool: names no pool \"wbe\"; expected one of web")
            })
        #expect(
            lines.contains { $0.contains(":8:11: relays.front.mode:") && $0.contains("did you mean \"round-robin\"") })
        #expect(output.stderr.contains("3 errors; nothing was applied"))
    }

    @Test func aMissingFileIsExplained() throws {
        let output = try BallastProcess.run(["check", "-c", "/nonexistent/ballast.yaml"])
        #expect(output.status == 1)
        #expect(output.stderr.contains("/nonexistent/ballast.yaml: (top level): cannot be read"))
    }

    @Test func runRefusesABadConfig() throws {
        let output = try BallastProcess.run(["run", "-c", "/nonexistent/ballast.yaml"])
        #expect(output.status == 2)
        #expect(output.stderr.contains("not started"))
    }
}
