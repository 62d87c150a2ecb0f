/// A value bound to, or read from, a SQL statement: the few types Ballast's schema uses.
public enum SQLValue: Hashable, Sendable {
    case text(String)
    case integer(Int64)
    case null

    /// The text, or nil for NULL and integers.
    public var text: String? {
        if case .text(let value) = self { return value }
        return nil
    }

    /// The integer, also read from its decimal text; nil otherwise.
    public var integer: Int64? {
        switch self {
        case .integer(let value): return value
        case .text(let value): return Int64(value)
        case .null: return nil
        }
    }

    /// `.text`, or `.null` when nil.
    public static func optional(_ text: String?) -> SQLValue { text.map(SQLValue.text) ?? .null }
}

/// Which SQL the backend speaks, for the few statements that differ.
public enum SQLDialect: String, Sendable {
    case sqlite
    case postgres
}

/// Statements run inside one transaction of a backend.
public protocol SQLSession {
    /// Runs `sql` with `$1`, `$2`, ... bound in order of first use; returns the rows.
    @discardableResult
    func execute(_ sql: String, _ binds: [SQLValue]) async throws -> [[SQLValue]]
}

extension SQLSession {
    /// Runs `body` between `begin` and COMMIT, rolling back when it throws.
    func run<T>(begin: String, _ body: (any SQLSession) async throws -> T) async throws -> T {
        try await execute(begin, [])
        do {
            let result = try await body(self)
            try await execute("COMMIT", [])
            return result
        } catch {
            _ = try? await execute("ROLLBACK", [])
            throw error
        }
    }
}

/// A database the directory can live in. Two implementations: SQLite (embedded, one file) and
/// PostgreSQL (several nodes, two sites).
public protocol StoreBackend: Sendable {
    /// The SQL it speaks.
    var dialect: SQLDialect { get }
    /// Where it is, for messages: a file path or a PostgreSQL address.
    var location: String { get }
    /// Runs `body` in one transaction, commits when it returns and rolls back when it throws.
    /// A read sees one consistent snapshot; a write holds the write lock from its start.
    func transaction<T: Sendable>(
        readOnly: Bool, _ body: @escaping @Sendable (any SQLSession) async throws -> T
    ) async throws -> T
    /// Calls `onChange` with the payload of every change notification until the task is cancelled;
    /// returns at once where the backend has none (SQLite: readers poll the revision).
    func listenForChanges(_ onChange: @escaping @Sendable (String) -> Void) async throws
    /// Closes connections.
    func close() async
}
