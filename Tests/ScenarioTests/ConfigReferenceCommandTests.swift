import BallastTestSupport
import Foundation
import Testing

/// `ballast config-reference`, as the maintainer of docs/configuration.md runs it.
@Suite struct ConfigReferenceCommandTests {
    @Test func printsEveryTable() throws {
        let output = try BallastProcess.run(["config-reference"])
        #expect(output.status == 0, "\(output.stderr)")
        #expect(output.stdout.contains("### relays.NAME\n"))
        #expect(output.stdout.contains("| `shutdown-grace` | `30s` |"))
        #expect(output.stdout.contains("| `dns.max-tcp-connections` | `1024` |"))
    }

    @Test func updateRewritesStaleTablesAndSaysWhenNothingChanged() throws {
        let directory = try BallastProcess.makeDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("reference.md")
        let stale = """
            # Reference

            <!-- keys: node -->
            | key | default | meaning |
            |---|---|---|
            | `shutdown-grace` | `1s` | stale |

            Prose stays as it is.
            """
        try stale.write(to: file, atomically: true, encoding: .utf8)
        let first = try BallastProcess.run(["config-reference", "--update", file.path])
        #expect(first.status == 0 && first.stdout.contains("rewritten"), "\(first.stdout) \(first.stderr)")
        let updated = try String(contentsOf: file, encoding: .utf8)
        #expect(updated.contains("| `shutdown-grace` | `30s` |") && !updated.contains("stale"))
        #expect(updated.hasSuffix("Prose stays as it is."))
        let again = try BallastProcess.run(["config-reference", "--update", file.path])
        #expect(again.status == 0 && again.stdout.contains("every key table is current"), "\(again.stdout)")
    }

    @Test func aMarkerNamingNoSectionOrAMissingFileIsAnErrorThatSaysWhatToDo() throws {
        let directory = try BallastProcess.makeDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("reference.md")
        try "text\n<!-- keys: relays.NAME.bogus -->\n".write(to: file, atomically: true, encoding: .utf8)
        let unknown = try BallastProcess.run(["config-reference", "--update", file.path])
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("line 2: <!-- keys: relays.NAME.bogus --> names no section; expected one of"))
        #expect(try String(contentsOf: file, encoding: .utf8) == "text\n<!-- keys: relays.NAME.bogus -->\n")
        let missing = try BallastProcess.run(
            ["config-reference", "--update", directory.appendingPathComponent("absent.md").path])
        #expect(missing.status == 1 && missing.stderr.contains("cannot be read"), "\(missing.stderr)")
    }
}
