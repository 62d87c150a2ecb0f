/// The key tables of docs/configuration.md, made from the key declarations so that the
/// reference and the reader cannot drift apart.
public enum ConfigReference {
    /// A `<!-- keys: ID -->` line names no declared section.
    public struct UnknownTable: Error, CustomStringConvertible {
        /// The ID the marker gave.
        public var id: String
        /// Its 1-based line.
        public var line: Int

        public var description: String {
            "line \(line): <!-- keys: \(id) --> names no section; expected one of "
                + ConfigReference.ids.joined(separator: ", ")
        }
    }

    /// Every declared section, in the reference's order.
    static let sections: [ConfigSection] = [
        TopKeys.section, NodeKeys.section, AdminKeys.section, SiteKeys.section, CheckKeys.section, PoolKeys.section,
        ServerKeys.section, RelayKeys.section, PersistenceKeys.section, HTTPRelayKeys.section, ServerTLSKeys.section,
        ForwardedKeys.section, UserRoutingKeys.section, CertificateKeys.section, CookieKeys.section,
        StoreKeys.section, BackupKeys.section, WitnessKeys.section, DNSKeys.section, RateLimitKeys.section,
        ZoneKeys.section, SOAKeys.section, RecordKeys.section, SIPKeys.section, SIPRegistrarKeys.section,
        SIPDirectorKeys.section, SIPExpiresKeys.section,
    ]

    /// The IDs a `<!-- keys: ID -->` line may name.
    public static var ids: [String] { sections.map(\.id) }

    static let marker = "<!-- keys: "

    /// One section's table: key, default, meaning.
    static func table(_ section: ConfigSection) -> [String] {
        var lines = ["| key | default | meaning |", "|---|---|---|"]
        for key in section.keys {
            var meaning = key.meaning
            if section.showsKinds, let only = key.only { meaning = only.joined(separator: ", ") + ": " + meaning }
            lines.append("| `\(section.rowPrefix)\(key.name)` | \(key.defaultValue) | \(meaning) |")
        }
        return lines
    }

    /// Every table, each under a heading that gives its ID and where its mapping sits.
    public static var markdown: String {
        sections.map { section in
            (["### \(section.id)", "", "`\(section.path)`: \(section.form)", ""] + table(section)).joined(
                separator: "\n")
        }.joined(separator: "\n\n") + "\n"
    }

    /// `document` with the table after each `<!-- keys: ID -->` line made anew from the
    /// declarations; the rest is left as it is.
    public static func update(_ document: String) throws(UnknownTable) -> String {
        let lines = document.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var result: [String] = []
        var index = 0
        while index < lines.count {
            let line = lines[index]
            result.append(line)
            index += 1
            guard line.hasPrefix(marker), line.hasSuffix(" -->") else { continue }
            let id = String(line.dropFirst(marker.count).dropLast(4))
            guard let section = sections.first(where: { $0.id == id }) else {
                throw UnknownTable(id: id, line: index)
            }
            while index < lines.count, lines[index].hasPrefix("|") { index += 1 }
            result += table(section)
        }
        return result.joined(separator: "\n")
    }

    /// The IDs whose tables `document` holds, in its order.
    public static func tables(in document: String) -> [String] {
        document.split(separator: "\n").compactMap { line in
            guard line.hasPrefix(marker), line.hasSuffix(" -->") else { return nil }
            return String(line.dropFirst(marker.count).dropLast(4))
        }
    }
}
