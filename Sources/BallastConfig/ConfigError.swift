/// One problem in a config file, located and explained so that an operator can fix it.
public struct ConfigError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of problem.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case unreadable, syntax, unknownKey, missingKey, invalidValue, duplicate, unknownReference, conflict
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The file could not be read.
        public static let unreadable = Code(.unreadable)
        /// The file is not valid YAML.
        public static let syntax = Code(.syntax)
        /// A key Ballast does not know (often a typo).
        public static let unknownKey = Code(.unknownKey)
        /// A required key is absent.
        public static let missingKey = Code(.missingKey)
        /// A value is not of the expected form.
        public static let invalidValue = Code(.invalidValue)
        /// A name or address is used twice.
        public static let duplicate = Code(.duplicate)
        /// A name refers to a pool, check or site that does not exist.
        public static let unknownReference = Code(.unknownReference)
        /// Two settings cannot hold together.
        public static let conflict = Code(.conflict)

        public var description: String { base.rawValue }
    }

    /// The kind of problem.
    public var code: Code
    /// The config file.
    public var file: String
    /// 1-based line, when known.
    public var line: Int?
    /// 1-based column, when known.
    public var column: Int?
    /// Dotted path of the key, such as `relays.owa.mode`.
    public var key: String
    /// What is wrong.
    public var message: String
    /// The form that was expected.
    public var expected: String?

    /// An error with every part given.
    public init(
        code: Code, file: String, line: Int?, column: Int?, key: String, message: String, expected: String? = nil
    ) {
        self.code = code
        self.file = file
        self.line = line
        self.column = column
        self.key = key
        self.message = message
        self.expected = expected
    }

    /// `file:line:column: key: message; expected ...`, the form compilers use.
    public var description: String {
        var location = file
        if let line {
            location += ":\(line)"
            if let column { location += ":\(column)" }
        }
        var text = "\(location): \(key.isEmpty ? "(top level)" : key): \(message)"
        if let expected { text += "; expected \(expected)" }
        return text
    }
}

/// Every problem found in a config file, in file order.
public struct ConfigErrors: Error, Sendable, CustomStringConvertible {
    /// The problems, at least one.
    public var errors: [ConfigError]

    /// The problems, one per line.
    public var description: String { errors.map(\.description).joined(separator: "\n") }
}
