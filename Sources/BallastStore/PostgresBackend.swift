import Foundation
public import Logging
import NIOCore
import PostgresNIO

/// The multi-node store: PostgreSQL through a postgres-nio client pool. Writers notify the
/// `ballast_directory` channel in the same transaction; readers listen there and poll as well.
public final class PostgresBackend: StoreBackend {
    public let dialect = SQLDialect.postgres
    public let location: String
    private let client: PostgresClient
    private let runner: Task<Void, Never>
    private let logger: Logger
    private let deadline: Duration

    /// The channel change notifications travel on.
    public static let channel = "ballast_directory"

    /// A client for `url` (`postgres://user:password@host:port/database`); connects on first use.
    /// An operation that cannot finish within `deadline` fails as unreachable.
    public init(url: String, deadline: Duration = .seconds(3), logger: Logger) throws(StoreError) {
        guard let parts = URLComponents(string: url), parts.scheme == "postgres" || parts.scheme == "postgresql",
            let host = parts.host, !host.isEmpty
        else {
            throw StoreError(
                .unreachable, "store url \(url) is not of the form postgres://USER:PASSWORD@HOST:PORT/DATABASE",
                location: url)
        }
        var configuration = PostgresClient.Configuration(
            host: host, port: parts.port ?? 5432, username: parts.user ?? "postgres",
            password: parts.password, database: parts.path.isEmpty ? nil : String(parts.path.dropFirst()),
            tls: .disable)
        configuration.options.connectTimeout = deadline
        configuration.options.maximumConnections = 4
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.client = client
        self.runner = Task { await client.run() }
        self.logger = logger
        self.deadline = deadline
        self.location = "\(host):\(parts.port ?? 5432)\(parts.path)"
    }

    public func transaction<T: Sendable>(readOnly: Bool, _ body: @escaping @Sendable (any SQLSession) async throws -> T) async throws -> T {
        let client = self.client
        let logger = self.logger
        return try await withDeadline {
            try await client.withConnection { connection in
                // Reads see one snapshot; writes take the revision row's lock first, which orders them.
                try await Session(connection: connection, logger: logger).run(
                    begin: readOnly ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" : "BEGIN ISOLATION LEVEL READ COMMITTED",
                    body)
            }
        }
    }

    public func listenForChanges(_ onChange: @escaping @Sendable (String) -> Void) async throws {
        let logger = self.logger
        try await client.withConnection { connection in
            try await connection.listen(on: Self.channel) { notifications in
                logger.debug("listening for directory changes", metadata: ["store": "\(location)"])
                for try await notification in notifications {
                    onChange(notification.payload)
                }
            }
        }
    }

    public func close() async {
        runner.cancel()
        _ = await runner.value
    }

    private func withDeadline<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        let deadline = self.deadline
        let location = self.location
        return try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask { try await operation() }
            group.addTask {
                try await Task.sleep(for: deadline)
                throw StoreError(.unreachable, "PostgreSQL at \(location) did not answer within \(deadline)", location: location)
            }
            defer { group.cancelAll() }
            guard let result = try await group.next() else { throw CancellationError() }
            return result
        }
    }

    private struct Session: SQLSession {
        let connection: PostgresConnection
        let logger: Logger

        @discardableResult
        func execute(_ sql: String, _ binds: [SQLValue]) async throws -> [[SQLValue]] {
            var bindings = PostgresBindings(capacity: binds.count)
            for value in binds {
                switch value {
                case .text(let text): bindings.append(text)
                case .integer(let integer): bindings.append(integer)
                case .null: bindings.appendNull()
                }
            }
            let rows = try await connection.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger)
            var result: [[SQLValue]] = []
            for try await row in rows {
                result.append(try row.map(Self.value))
            }
            return result
        }

        private static func value(_ cell: PostgresCell) throws -> SQLValue {
            guard cell.bytes != nil else { return .null }
            switch cell.dataType {
            case .int2, .int4, .int8: return .integer(try cell.decode(Int64.self))
            default: return .text(try cell.decode(String.self))
            }
        }
    }
}
