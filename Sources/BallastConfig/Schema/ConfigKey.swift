import BallastCore

/// What the reference and the error messages say about one key, whatever its value's type.
struct KeyDeclaration: Sendable, Hashable {
    /// Its name in its mapping; dotted when it sits in a nested mapping (`timeouts.connect`).
    var name: String
    /// The form a value takes, as error messages give it after "expected".
    var expected: String
    /// The default as the reference shows it (Markdown): "`2s`", "none", "required".
    var defaultValue: String
    /// One line for the reference.
    var meaning: String
    /// The kinds of its mapping it applies to (check types, relay protocols); nil for every kind.
    var only: [String]?

    /// Whether the key must be given (the reader reports it missing otherwise).
    var isRequired: Bool { defaultValue == "required" }

    /// Whether it applies to a mapping of `kind`.
    func applies(to kind: String) -> Bool { only?.contains(kind) ?? true }
}

/// A key declared once with its type, form, default and documentation; readers look values up
/// by it, and the reference tables in docs/configuration.md are made from it.
struct ConfigKey<Value>: Sendable {
    let declaration: KeyDeclaration
    /// Reads a present value, recording any problem at `key` (the key's dotted path).
    let parse: @Sendable (inout YAMLReader, YAMLNode, _ key: String) -> Value?

    var name: String { declaration.name }

    /// A key from the parts of its declaration and the reading of its value.
    init(
        _ name: String, expected: String, default value: String, only: [String]?, meaning: String,
        parse: @escaping @Sendable (inout YAMLReader, YAMLNode, _ key: String) -> Value?
    ) {
        declaration = KeyDeclaration(
            name: name, expected: expected, defaultValue: value, meaning: meaning, only: only)
        self.parse = parse
    }
}

/// The ways a key's value is read: each gives the expected form its messages quote.
enum Key {
    /// A duration (`500ms`, `2s`, `1h30m`) of at least `minimum`.
    static func duration(
        _ name: String, minimum: Duration = .milliseconds(1), default value: String, only: [String]? = nil,
        _ meaning: String
    ) -> ConfigKey<Duration> {
        ConfigKey(
            name, expected: DurationParser.expectedForm, default: value, only: only, meaning: meaning,
            parse: { reader, node, key in reader.duration(node, key: key, minimum: minimum) })
    }

    /// A whole number in `range`.
    static func number(
        _ name: String, _ range: ClosedRange<Int>, default value: String, only: [String]? = nil, _ meaning: String
    ) -> ConfigKey<Int> {
        ConfigKey(
            name, expected: YAMLReader.numberForm(range), default: value, only: only, meaning: meaning,
            parse: { reader, node, key in reader.int(node, key: key, range: range) })
    }

    /// `true` or `false` (also yes/no, on/off).
    static func flag(
        _ name: String, default value: String, only: [String]? = nil, _ meaning: String
    )
        -> ConfigKey<Bool>
    {
        ConfigKey(
            name, expected: "true or false", default: value, only: only, meaning: meaning,
            parse: { reader, node, key in reader.bool(node, key: key) })
    }

    /// Any non-empty text; `expected` says what it stands for.
    static func text(
        _ name: String, expected: String, default value: String, only: [String]? = nil, _ meaning: String
    ) -> ConfigKey<String> {
        ConfigKey(
            name, expected: expected, default: value, only: only, meaning: meaning,
            parse: { reader, node, key in reader.string(node, key: key, what: expected) })
    }

    /// A name of a site, pool, check or server.
    static func name(
        _ name: String, default value: String, only: [String]? = nil, _ meaning: String
    )
        -> ConfigKey<String>
    {
        ConfigKey(
            name, expected: YAMLReader.nameForm, default: value, only: only, meaning: meaning,
            parse: { reader, node, key in reader.name(node, key: key) })
    }

    /// `ADDRESS:PORT`.
    static func endpoint(
        _ name: String, default value: String, only: [String]? = nil, _ meaning: String
    )
        -> ConfigKey<Endpoint>
    {
        ConfigKey(
            name, expected: YAMLReader.endpointForm, default: value, only: only, meaning: meaning,
            parse: { reader, node, key in reader.endpoint(node, key: key) })
    }

    /// One of an enumeration's raw values, with "did you mean" for near misses.
    static func choice<T: RawRepresentable & CaseIterable & Sendable>(
        _ name: String, of type: T.Type, default value: String, only: [String]? = nil, _ meaning: String
    ) -> ConfigKey<T> where T.RawValue == String {
        ConfigKey(
            name, expected: YAMLReader.choiceForm(T.self), default: value, only: only, meaning: meaning,
            parse: { reader, node, key in reader.choice(node, key: key, of: T.self) })
    }

    /// A value of a richer form (a list, a mapping, one of several shapes) that its section's
    /// reader takes apart; `expected` is the form its messages quote.
    static func node(
        _ name: String, expected: String, default value: String, only: [String]? = nil, _ meaning: String
    ) -> ConfigKey<YAMLNode> {
        ConfigKey(
            name, expected: expected, default: value, only: only, meaning: meaning,
            parse: { _, node, _ in node })
    }
}
