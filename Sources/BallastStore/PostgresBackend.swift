import Foundation
public import Logging
import NIOCore
import PostgresNIO
import Synchronization

/// The multi-node store: PostgreSQL through postgres-nio client pools, one per server: the
/// primary and its streaming standbys at other sites. Writes go to the primary with the newest
/// timeline, so that an old primary that comes back after a standby was promoted is never
/// written again; reads go there too, or to a standby while no primary answers. Writers notify
/// the `ballast_directory` channel in the same transaction; readers listen there and poll as well.
public final class PostgresBackend: StoreBackend {
    public let dialect = SQLDialect.postgres
    public let location: String
    private let servers: [Server]
    private let runner: Task<Void, Never>
    private let logger: Logger
    private let deadline: Duration
    private let selection = Mutex(Selection())

    /// The channel change notifications travel on.
    public static let channel = "ballast_directory"

    /// One PostgreSQL server and its client pool.
    private struct Server: Sendable {
        let client: PostgresClient
        let location: String
    }

    /// What this process knows of the servers: which one is the primary, the newest timeline any
    /// primary had, and when each last failed.
    private struct Selection {
        var primary: Int?
        var newestTimeline = 0
        var failedAt: [Int: ContinuousClock.Instant] = [:]
        /// When the servers were last asked what they are.
        var askedAt: ContinuousClock.Instant?
    }

    /// What a server said it is.
    private enum Role: Sendable {
        case primary(timeline: Int)
        case standby
    }

    /// How long an operation may wait for the server before it fails as unreachable: a few
    /// seconds, so that a node notices an outage while its clients still wait.
    public static let defaultDeadline: Duration = .seconds(3)

    /// Clients for `url` and its standbys (`postgres://user:password@host:port/database` each);
    /// they connect on first use. An operation that cannot finish within `deadline` fails as unreachable.
    public init(
        url: String, standbys: [String] = [], deadline: Duration = defaultDeadline, logger: Logger
    ) throws(StoreError) {
        var servers: [Server] = []
        for address in [url] + standbys {
            guard let parts = URLComponents(string: address),
                parts.scheme == "postgres" || parts.scheme == "postgresql",
                let host = parts.host, !host.isEmpty
            else {
                throw StoreError(
                    .unreachable, "store url \(address) is not of the form postgres://USER:PASSWORD@HOST:PORT/DATABASE",
                    location: address)
            }
            var configuration = PostgresClient.Configuration(
                host: host, port: parts.port ?? 5432, username: parts.user ?? "postgres",
                password: parts.password, database: parts.path.isEmpty ? nil : String(parts.path.dropFirst()),
                tls: .disable)
            configuration.options.connectTimeout = deadline
            configuration.options.maximumConnections = 4
            servers.append(
                Server(
                    client: PostgresClient(configuration: configuration, backgroundLogger: logger),
                    location: "\(host):\(parts.port ?? 5432)\(parts.path)"))
        }
        let clients = servers.map(\.client)
        self.servers = servers
        self.runner = Task {
            await withDiscardingTaskGroup { group in
                for client in clients { group.addTask { await client.run() } }
            }
        }
        self.logger = logger
        self.deadline = deadline
        self.location = servers.map(\.location).joined(separator: ", ")
    }

    public func transaction<T: Sendable>(
        readOnly: Bool, _ body: @escaping @Sendable (any SQLSession) async throws -> T
    ) async throws -> T {
        if readOnly {
            // Reads follow the primary too, so that an old primary back on its old timeline is
            // not read either; the servers are asked at most every few seconds while none is.
            if servers.count > 1,
                selection.withLock({ $0.primary == nil && ($0.askedAt.map { .now - $0 > .seconds(5) } ?? true) })
            {
                _ = try? await writable()
            }
            var lastError: (any Error)?
            for index in readOrder() {
                do {
                    let result = try await run(on: index, readOnly: true, body)
                    selection.withLock { $0.failedAt[index] = nil }
                    return result
                } catch  where Self.isUnreachable(error) {
                    markFailed(index)
                    lastError = error
                }
            }
            throw lastError ?? StoreError(.unreachable, "no PostgreSQL server configured", location: location)
        }
        let primary = try await writable()
        do {
            return try await run(on: primary, readOnly: false, body)
        } catch  where Self.isReadOnly(error) {
            // Chosen again before the next write: the primary became a standby.
            markFailed(primary)
            throw StoreError(
                .readOnly,
                "\(servers[primary].location) is a standby now (read-only): the write was not made; try again",
                location: location)
        } catch  where Self.isUnreachable(error) {
            markFailed(primary)
            // The primary is gone: say what the others are, when none can take writes either.
            if servers.count > 1 {
                do { _ = try await writable() } catch  where error.code == .readOnly { throw error } catch {}
            }
            throw error
        }
    }

    public func listenForChanges(_ onChange: @escaping @Sendable (String) -> Void) async throws {
        // A standby refuses LISTEN: nodes poll until a primary answers.
        let server = servers[try await writable()]
        let logger = self.logger
        try await server.client.withConnection { connection in
            try await connection.listen(on: Self.channel) { notifications in
                logger.debug("listening for directory changes", metadata: ["store": "\(server.location)"])
                for try await notification in notifications {
                    onChange(notification.payload)
                }
            }
        }
    }

    /// Makes sure a primary answers: when none does, promotes the first standby that answers
    /// (`pg_promote`); says what it found or did. Run only once the old primary's site is fenced.
    public func promote() async throws(StoreError) -> String {
        let roles = await roles()
        if let (index, timeline) = Self.newestPrimary(roles) {
            return "\(servers[index].location) is already the primary (timeline \(timeline))"
        }
        guard let standby = roles.firstIndex(where: { if case .standby = $0 { return true } else { return false } })
        else {
            throw StoreError(
                .unreachable, "no PostgreSQL server answers: neither a primary nor a standby to promote",
                location: location)
        }
        do {
            _ = try await run(on: standby, readOnly: false, deadline: .seconds(65)) { session in
                // A standby refuses transactions that write; pg_promote is allowed, and waits up to 60 s.
                try await session.execute("SELECT pg_promote(true, 60)", [])
            }
        } catch {
            throw StoreError(
                .unreachable, "could not promote the standby at \(servers[standby].location): \(error)",
                location: location)
        }
        selection.withLock { $0.primary = nil }
        let index = try await writable()
        return
            "promoted the standby at \(servers[index].location) to primary (timeline \(selection.withLock { $0.newestTimeline }))"
    }

    public func close() async {
        runner.cancel()
        // The pools finish once their connections are returned; an operation left running past
        // its deadline must not hold the caller.
        let runner = self.runner
        _ = try? await Deadline.run(.seconds(5), timeout: { CancellationError() }) { await runner.value }
    }

    // MARK: - Choosing a server

    /// The primary to write to, asking every server when none is known.
    private func writable() async throws(StoreError) -> Int {
        if let primary = selection.withLock({ $0.primary }) { return primary }
        let roles = await roles()
        let newestSeen = selection.withLock { $0.newestTimeline }
        guard let (index, timeline) = Self.newestPrimary(roles), timeline >= newestSeen else {
            if roles.allSatisfy({ $0 == nil }) {
                throw StoreError(.unreachable, "PostgreSQL at \(location) does not answer", location: location)
            }
            let described = zip(servers, roles).map { server, role in
                switch role {
                case .primary(let timeline)?:
                    return "\(server.location) is a primary of an older timeline (\(timeline) < \(newestSeen))"
                case .standby?: return "\(server.location) is a standby (read-only)"
                case nil: return "\(server.location) does not answer"
                }
            }
            throw StoreError(
                .readOnly,
                "no PostgreSQL primary to write to: \(described.joined(separator: "; ")); a failover plan's first step promotes a standby (`ballast plan failover --site SITE`, then `ballast apply`)",
                location: location)
        }
        selection.withLock {
            $0.primary = index
            $0.newestTimeline = max($0.newestTimeline, timeline)
            $0.failedAt[index] = nil
        }
        if servers.count > 1 {
            logger.notice(
                "writing to the PostgreSQL primary",
                metadata: ["store": "\(servers[index].location)", "timeline": "\(timeline)"])
        }
        return index
    }

    /// Each server's role, asked at once; nil where a server does not answer.
    private func roles() async -> [Role?] {
        selection.withLock { $0.askedAt = .now }
        return await withTaskGroup(of: (Int, Role?).self) { group in
            for index in servers.indices {
                group.addTask {
                    let role = try? await self.run(on: index, readOnly: true) { session -> Role in
                        // A primary's current WAL file name starts with its timeline, in hex; a standby has none.
                        let rows = try await session.execute(
                            "SELECT CASE WHEN pg_is_in_recovery() THEN '' ELSE pg_walfile_name(pg_current_wal_lsn()) END",
                            [])
                        let name = rows.first?.first?.text ?? ""
                        guard !name.isEmpty, let timeline = Int(name.prefix(8), radix: 16) else { return .standby }
                        return .primary(timeline: timeline)
                    }
                    return (index, role)
                }
            }
            var roles = [Role?](repeating: nil, count: servers.count)
            for await (index, role) in group {
                roles[index] = role
                if role == nil { markFailed(index) }
            }
            return roles
        }
    }

    private static func newestPrimary(_ roles: [Role?]) -> (Int, Int)? {
        var best: (Int, Int)?
        for (index, role) in roles.enumerated() {
            if case .primary(let timeline)? = role, timeline > best?.1 ?? -1 { best = (index, timeline) }
        }
        return best
    }

    /// The primary first, then the servers in configured order, those that failed lately last.
    private func readOrder() -> [Int] {
        selection.withLock { selection in
            let recent = ContinuousClock.now - .seconds(10)
            let healthy = servers.indices.filter { (selection.failedAt[$0] ?? recent) <= recent }
            let failed = servers.indices.filter { !healthy.contains($0) }
            let primary = selection.primary.map { [$0] } ?? []
            return primary + healthy.filter { $0 != selection.primary } + failed.filter { $0 != selection.primary }
        }
    }

    private func markFailed(_ index: Int) {
        selection.withLock {
            $0.failedAt[index] = .now
            if $0.primary == index { $0.primary = nil }
        }
    }

    /// A failure of the server or the way to it, rather than of the statement.
    private static func isUnreachable(_ error: any Error) -> Bool {
        if let error = error as? StoreError { return error.code == .unreachable }
        if let error = error as? PSQLError { return error.code != .server }
        return error is IOError || error is ChannelError
    }

    /// PostgreSQL's "cannot execute ... in a read-only transaction" (SQLSTATE 25006), as a standby says.
    private static func isReadOnly(_ error: any Error) -> Bool {
        (error as? PSQLError)?.serverInfo?[.sqlState] == "25006"
    }

    private func run<T: Sendable>(
        on index: Int, readOnly: Bool, deadline: Duration? = nil,
        _ body: @escaping @Sendable (any SQLSession) async throws -> T
    ) async throws -> T {
        let server = servers[index]
        let logger = self.logger
        return try await withDeadline(deadline ?? self.deadline, location: server.location) {
            try await server.client.withConnection { connection in
                // Reads see one snapshot; writes take the revision row's lock first, which orders them.
                try await Session(connection: connection, logger: logger).run(
                    begin: readOnly
                        ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" : "BEGIN ISOLATION LEVEL READ COMMITTED",
                    body)
            }
        }
    }

    private func withDeadline<T: Sendable>(
        _ deadline: Duration, location: String, _ operation: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        try await Deadline.run(
            deadline,
            timeout: {
                StoreError(
                    .unreachable, "PostgreSQL at \(location) did not answer within \(deadline)", location: location)
            }, operation)
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
