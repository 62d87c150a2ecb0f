import BallastCore
import Yams

/// A node of the parsed YAML document (Yams's `Node`), named apart from Ballast's running node.
typealias YAMLNode = Yams.Node

/// Reads typed values out of a YAML node tree and records every problem with its location,
/// so that one pass reports all of them.
struct YAMLReader {
    let file: String
    private(set) var errors: [ConfigError] = []

    init(file: String) {
        self.file = file
    }

    /// A mapping's entries as (key, key node, value); nil (with an error) when `node` is not a mapping.
    struct Entry {
        var key: String
        var keyNode: YAMLNode
        var value: YAMLNode
    }

    mutating func fail(
        _ code: ConfigError.Code, at node: YAMLNode?, key: String, _ message: String, expected: String? = nil
    ) {
        errors.append(
            ConfigError(
                code: code, file: file, line: node?.mark?.line, column: node?.mark?.column, key: key,
                message: message, expected: expected))
    }

    /// The entries of a mapping, refusing duplicate keys and keys outside `allowed` (when given).
    mutating func mapping(_ node: YAMLNode, key: String, allowed: [String]? = nil, what: String) -> [Entry]? {
        guard case .mapping(let mapping) = node else {
            if case .scalar(let scalar) = node, scalar.string.isEmpty || scalar.tag == .implicit && scalar.string == "~"
            {
                return []
            }
            fail(.invalidValue, at: node, key: key, "is \(describe(node))", expected: what)
            return nil
        }
        var seen: Set<String> = []
        var entries: [Entry] = []
        for (keyNode, value) in mapping {
            guard let name = keyNode.scalar?.string else {
                fail(
                    .invalidValue, at: keyNode, key: key, "has a key that is not a plain name", expected: "name: value")
                continue
            }
            let path = join(key, name)
            if !seen.insert(name).inserted {
                fail(.duplicate, at: keyNode, key: path, "appears twice", expected: "each key once")
                continue
            }
            if let allowed, !allowed.contains(name) {
                var message = "is not a known key"
                if let suggestion = Self.suggestion(for: name, among: allowed) {
                    message += " (did you mean \"\(suggestion)\"?)"
                }
                fail(
                    .unknownKey, at: keyNode, key: path, message, expected: "one of " + allowed.joined(separator: ", "))
                continue
            }
            entries.append(Entry(key: name, keyNode: keyNode, value: value))
        }
        return entries
    }

    mutating func sequence(_ node: YAMLNode, key: String, what: String) -> [YAMLNode]? {
        guard case .sequence(let sequence) = node else {
            fail(.invalidValue, at: node, key: key, "is \(describe(node))", expected: what)
            return nil
        }
        return Array(sequence)
    }

    mutating func string(_ node: YAMLNode, key: String, what: String = "a string") -> String? {
        guard case .scalar(let scalar) = node, !scalar.string.isEmpty else {
            fail(.invalidValue, at: node, key: key, "is \(describe(node))", expected: what)
            return nil
        }
        return scalar.string
    }

    mutating func name(_ node: YAMLNode, key: String) -> String? {
        guard let text = string(node, key: key, what: Self.nameForm) else { return nil }
        guard Self.isValidName(text) else {
            fail(.invalidValue, at: node, key: key, "\"\(text)\" is not a valid name", expected: Self.nameForm)
            return nil
        }
        return text
    }

    mutating func int(_ node: YAMLNode, key: String, range: ClosedRange<Int>) -> Int? {
        let expected = Self.numberForm(range)
        guard case .scalar(let scalar) = node, let value = Int(scalar.string.trimmingWhitespace()) else {
            fail(.invalidValue, at: node, key: key, "is \(describe(node))", expected: expected)
            return nil
        }
        guard range.contains(value) else {
            fail(.invalidValue, at: node, key: key, "\(value) is out of range", expected: expected)
            return nil
        }
        return value
    }

    mutating func bool(_ node: YAMLNode, key: String) -> Bool? {
        if case .scalar(let scalar) = node {
            switch scalar.string.lowercased() {
            case "true", "yes", "on": return true
            case "false", "no", "off": return false
            default: break
            }
        }
        fail(.invalidValue, at: node, key: key, "is \(describe(node))", expected: "true or false")
        return nil
    }

    mutating func duration(_ node: YAMLNode, key: String, minimum: Duration = .milliseconds(1)) -> Duration? {
        guard case .scalar(let scalar) = node, let value = DurationParser.parse(scalar.string) else {
            fail(.invalidValue, at: node, key: key, "is \(describe(node))", expected: DurationParser.expectedForm)
            return nil
        }
        guard value >= minimum else {
            fail(
                .invalidValue, at: node, key: key, "\(scalar.string) is too short",
                expected: "at least \(DurationParser.format(minimum))")
            return nil
        }
        return value
    }

    mutating func choice<T: RawRepresentable & CaseIterable>(_ node: YAMLNode, key: String, of type: T.Type) -> T?
    where T.RawValue == String {
        let names = T.allCases.map(\.rawValue)
        guard case .scalar(let scalar) = node, let value = T(rawValue: scalar.string.lowercased()) else {
            var message = "is \(describe(node))"
            if case .scalar(let scalar) = node, let suggestion = Self.suggestion(for: scalar.string, among: names) {
                message += " (did you mean \"\(suggestion)\"?)"
            }
            fail(.invalidValue, at: node, key: key, message, expected: Self.choiceForm(T.self))
            return nil
        }
        return value
    }

    mutating func address(_ node: YAMLNode, key: String) -> IPAddress? {
        let expected = "an IPv4 or IPv6 address such as 10.0.0.11 or 2001:db8::11"
        guard case .scalar(let scalar) = node, let address = IPAddress(scalar.string.trimmingWhitespace()) else {
            fail(.invalidValue, at: node, key: key, "is \(describe(node))", expected: expected)
            return nil
        }
        return address
    }

    mutating func endpoint(_ node: YAMLNode, key: String) -> Endpoint? {
        let expected = Self.endpointForm
        guard case .scalar(let scalar) = node, let endpoint = Endpoint(scalar.string.trimmingWhitespace()) else {
            fail(.invalidValue, at: node, key: key, "is \(describe(node))", expected: expected)
            return nil
        }
        return endpoint
    }

    /// Records that a required key is missing from the mapping at `node`.
    mutating func missing(_ name: String, in node: YAMLNode, key: String, expected: String) {
        fail(.missingKey, at: node, key: join(key, name), "is required", expected: expected)
    }

    func describe(_ node: YAMLNode) -> String {
        switch node {
        case .scalar(let scalar):
            return scalar.string.isEmpty ? "empty" : "\"\(scalar.string)\""
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    func join(_ parent: String, _ child: String) -> String { parent.isEmpty ? child : "\(parent).\(child)" }

    static let endpointForm = "ADDRESS:PORT such as 10.0.0.10:443 or [2001:db8::10]:443"

    static func numberForm(_ range: ClosedRange<Int>) -> String {
        "a whole number from \(range.lowerBound) to \(range.upperBound)"
    }

    static func choiceForm<T: RawRepresentable & CaseIterable>(_ type: T.Type) -> String where T.RawValue == String {
        "one of " + T.allCases.map(\.rawValue).joined(separator: ", ")
    }

    static let nameForm = "a name of letters, digits, '-', '_' and '.', starting with a letter or digit"

    static func isValidName(_ text: String) -> Bool {
        guard let first = text.unicodeScalars.first, text.count <= 64 else { return false }
        func ok(_ c: Unicode.Scalar) -> Bool {
            ("a"..."z").contains(c) || ("A"..."Z").contains(c) || ("0"..."9").contains(c) || c == "-" || c == "_"
                || c == "."
        }
        return ok(first) && first != "-" && first != "_" && first != "." && text.unicodeScalars.allSatisfy(ok)
    }

    /// The closest allowed word within two edits, for "did you mean".
    static func suggestion(for word: String, among candidates: [String]) -> String? {
        let scored = candidates.map { ($0, editDistance(word.lowercased(), $0)) }
        guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= 2, best.1 < word.count else { return nil }
        return best.0
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a)
        let b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}
