/// The keys one mapping of the config takes, declared together: readers ask it which keys are
/// allowed and which apply to a kind, and the reference renders it as one table.
struct ConfigSection: Sendable {
    /// Names its table in docs/configuration.md (`<!-- keys: ID -->`); its path unless two tables share one.
    var id: String
    /// Where the mapping sits, as the reference names it (`relays.NAME`, `checks.NAME`).
    var path: String
    /// What the mapping is, for messages about a value that is not one ("a check mapping").
    var form: String
    /// Its keys, in the reference's order.
    var keys: [KeyDeclaration]
    /// The key whose value picks the kind other keys may be limited to (`type`, `protocol`).
    var kindKey: String?
    /// What a mapping of this section is called in "applies only to http and https checks".
    var noun: String
    /// Written before each key's name in the reference (`dns.` for the `dns` section's table).
    var rowPrefix: String
    /// Whether the reference starts a limited key's meaning with the kinds it applies to.
    var showsKinds: Bool

    init(
        _ path: String, id: String? = nil, form: String, noun: String = "", kindKey: String? = nil,
        rowPrefix: String = "", showsKinds: Bool = false, keys: [KeyDeclaration]
    ) {
        self.id = id ?? path
        self.showsKinds = showsKinds
        self.path = path
        self.form = form
        self.noun = noun
        self.kindKey = kindKey
        self.rowPrefix = rowPrefix
        self.keys = keys
    }

    /// The names a mapping at `prefix` (a dotted path inside this section, "" for the section
    /// itself) may hold: a nested mapping's name once, however many keys it holds.
    func names(under prefix: String = "") -> [String] {
        var names: [String] = []
        for key in keys {
            guard let rest = Self.relative(key.name, to: prefix) else { continue }
            let first = String(rest.prefix(while: { $0 != "." }))
            if !names.contains(first) { names.append(first) }
        }
        return names
    }

    /// The declaration of `name` in the mapping at `prefix`: the key itself, or the first key
    /// nested under it.
    func declaration(_ name: String, under prefix: String = "") -> KeyDeclaration? {
        let full = prefix.isEmpty ? name : "\(prefix).\(name)"
        return keys.first { $0.name == full } ?? keys.first { $0.name.hasPrefix(full + ".") }
    }

    /// This section's keys followed by `other`'s, for a mapping that takes both (a relay and an
    /// HTTP relay's keys).
    func adding(_ other: ConfigSection) -> ConfigSection {
        var merged = self
        merged.keys += other.keys.filter { key in !keys.contains { $0.name == key.name } }
        return merged
    }

    static func relative(_ name: String, to prefix: String) -> String? {
        if prefix.isEmpty { return name }
        guard name.hasPrefix(prefix + ".") else { return nil }
        return String(name.dropFirst(prefix.count + 1))
    }
}
