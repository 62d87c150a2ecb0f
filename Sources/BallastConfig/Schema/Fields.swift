import Yams

/// One mapping of the config read against its section: its entries, looked up by declared key,
/// and whether any value in it was wrong (so that its reader can give up on the whole).
struct Fields {
    /// The mapping's dotted path, such as `relays.owa` or `relays.owa.timeouts`.
    let key: String
    /// The mapping itself, where messages about a missing key point.
    let node: YAMLNode
    /// Where in the section this mapping is ("" for the section itself, `timeouts` for a nested one).
    let prefix: String
    /// The entries, in the file's order, each of an allowed name and given once.
    let entries: [YAMLReader.Entry]
    /// Whether a value read from it (or a key in it) was refused.
    var failed = false

    private let byName: [String: YAMLReader.Entry]

    init(key: String, node: YAMLNode, prefix: String, entries: [YAMLReader.Entry]) {
        self.key = key
        self.node = node
        self.prefix = prefix
        self.entries = entries
        self.byName = Dictionary(entries.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// The entry given for `key`, if any.
    func entry<Value>(_ key: ConfigKey<Value>) -> YAMLReader.Entry? {
        ConfigSection.relative(key.name, to: prefix).flatMap { byName[$0] }
    }

    /// The value node given for `key`, if any.
    subscript<Value>(key: ConfigKey<Value>) -> YAMLNode? { entry(key)?.value }

    /// The nested mapping `key` sits in (`timeouts` for `timeouts.connect`), if given.
    func mapping<Value>(containing key: ConfigKey<Value>) -> YAMLNode? {
        guard let name = ConfigSection.relative(key.name, to: prefix), let dot = name.firstIndex(of: ".") else {
            return nil
        }
        return byName[String(name[..<dot])]?.value
    }

    /// Whether `key` is given.
    func has<Value>(_ key: ConfigKey<Value>) -> Bool { entry(key) != nil }

    /// The dotted path of `key` in this mapping, as messages name it.
    func path<Value>(_ key: ConfigKey<Value>) -> String {
        let name = ConfigSection.relative(key.name, to: prefix) ?? key.name
        return self.key.isEmpty ? name : "\(self.key).\(name)"
    }
}

extension YAMLReader {
    /// The mapping at `node` read against `section` (at `prefix` inside it): unknown keys,
    /// with "did you mean", and duplicates are recorded; nil when `node` is not a mapping.
    mutating func fields(
        _ node: YAMLNode, key: String, section: ConfigSection, under prefix: String = "", form: String? = nil
    ) -> Fields? {
        guard
            let entries = mapping(
                node, key: key, allowed: section.names(under: prefix), what: form ?? section.form)
        else { return nil }
        return Fields(key: key, node: node, prefix: prefix, entries: entries)
    }

    /// The value of `key` in `fields`, read in its declared form; nil when it is absent or
    /// wrong (which marks `fields` failed and records where and why).
    mutating func read<Value>(_ key: ConfigKey<Value>, in fields: inout Fields) -> Value? {
        guard let node = fields[key] else { return nil }
        guard let value = key.parse(&self, node, fields.path(key)) else {
            fields.failed = true
            return nil
        }
        return value
    }

    /// As `read`, but a missing key is an error too, with the declared form as the expected one.
    mutating func require<Value>(
        _ key: ConfigKey<Value>, in fields: inout Fields, expected: String? = nil
    )
        -> Value?
    {
        guard fields.has(key) else {
            fail(
                .missingKey, at: fields.node, key: fields.path(key), "is required",
                expected: expected ?? key.declaration.expected)
            fields.failed = true
            return nil
        }
        return read(key, in: &fields)
    }

    /// Records that the value given for `key` is wrong beyond its form (a path without its
    /// leading slash, a file that cannot be read), and marks `fields` failed.
    mutating func refuse<Value>(
        _ key: ConfigKey<Value>, in fields: inout Fields, _ message: String, expected: String,
        code: ConfigError.Code = .invalidValue
    ) {
        fail(code, at: fields[key], key: fields.path(key), message, expected: expected)
        fields.failed = true
    }

    /// Records every key of `fields` that does not apply to a mapping of `kind` (a check's type,
    /// a relay's protocol), saying which kinds it applies to.
    mutating func refuseInapplicable(_ fields: inout Fields, section: ConfigSection, kind: String) {
        for entry in fields.entries {
            guard let declaration = section.declaration(entry.key, under: fields.prefix),
                let only = declaration.only, !only.contains(kind)
            else { continue }
            let path = fields.key.isEmpty ? entry.key : "\(fields.key).\(entry.key)"
            let kinds = Self.list(only, conjunction: "and")
            fail(
                .conflict, at: entry.keyNode, key: path, "applies only to \(kinds) \(section.noun)",
                expected:
                    "\(section.kindKey ?? "type"): \(Self.list(only, conjunction: "or")), or no \(declaration.name)")
            fields.failed = true
        }
    }

    /// "a, b and c".
    static func list(_ words: [String], conjunction: String) -> String {
        guard words.count > 1 else { return words.first ?? "" }
        return words.dropLast().joined(separator: ", ") + " \(conjunction) " + words.last!
    }
}
