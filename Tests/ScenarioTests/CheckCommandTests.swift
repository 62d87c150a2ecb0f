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
        #expect(output.stdout.contains("ok: 1 sites, 2 pools, 5 servers, 8 relays"))
        #expect(output.stdout.contains("zone contoso.com.: 7 records, 1 following pool health; DNS on 10.0.0.53:53"))
        #expect(
            output.stdout.contains(
                "relay cas-59533: tcp 10.0.0.10:59533 -> pool cas, source-hash, source affinity 30m x 200000"))
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
