import BallastConfig
import Foundation
import Testing

/// docs/configuration.md's key tables are made from the reader's declarations: they must be
/// current, one per section, and the only key tables there.
@Suite struct ConfigReferenceTests {
    static let reference = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("docs/configuration.md")

    func document() throws -> String { try String(contentsOf: Self.reference, encoding: .utf8) }

    @Test func theReferenceTablesAreTheDeclarations() throws {
        let document = try document()
        let updated = try ConfigReference.update(document)
        let stale = zip(document.split(separator: "\n"), updated.split(separator: "\n")).first { $0 != $1 }
        #expect(
            updated == document,
            "docs/configuration.md differs from the declarations at \(String(describing: stale)); run `swift run ballast config-reference --update docs/configuration.md`"
        )
    }

    @Test func everySectionHasExactlyOneTable() throws {
        let tables = ConfigReference.tables(in: try document())
        #expect(tables.sorted() == ConfigReference.ids.sorted())
        #expect(Set(tables).count == tables.count)
    }

    @Test func everyKeyTableIsMadeFromDeclarations() throws {
        let lines = try document().split(separator: "\n", omittingEmptySubsequences: false)
        for (index, line) in lines.enumerated() where line == "| key | default | meaning |" {
            #expect(index > 0 && lines[index - 1].hasPrefix("<!-- keys: "), "line \(index + 1) is a hand-written table")
        }
    }

    @Test func updateRewritesMarkedTablesAndLeavesTheRest() throws {
        let document = """
            # Title

            <!-- keys: node -->
            | key | default | meaning |
            |---|---|---|
            | `shutdown-grace` | `1s` | stale |
            | `gone` | none | a key no longer declared |

            | type | keys |
            |---|---|
            | `A` | value |
            """
        let updated = try ConfigReference.update(document)
        #expect(updated.contains("| `shutdown-grace` | `30s` | how long SIGTERM"))
        #expect(!updated.contains("stale") && !updated.contains("`gone`"))
        #expect(updated.hasSuffix("| type | keys |\n|---|---|\n| `A` | value |"))
        #expect(try ConfigReference.update(updated) == updated)
    }

    @Test func aMarkerNamingNoSectionIsRefused() {
        #expect(throws: ConfigReference.UnknownTable.self) {
            try ConfigReference.update("text\n<!-- keys: relays.NAME.bogus -->\n| key | default | meaning |\n")
        }
    }

    @Test func thePrintedReferenceHoldsEveryTable() {
        let markdown = ConfigReference.markdown
        for id in ConfigReference.ids { #expect(markdown.contains("### \(id)\n")) }
        #expect(markdown.contains("| `timeouts.login` | `60s` | imap, imaps, pop3, pop3s: "))
        #expect(markdown.contains("| `dns.max-tcp-connections` | `1024` |"))
    }
}
