import Glibc
public import Logging
import NIOCore
import NIOPosix
import SQLiteNIO

/// The embedded store: one SQLite file in WAL mode, shared by the node and the CLI on one host.
public actor SQLiteBackend: StoreBackend {
    public nonisolated let dialect = SQLDialect.sqlite
    public nonisolated let location: String
    private let connection: SQLiteConnection
    private var busy = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    /// Opens (creating) the file at `path`, in WAL mode unless `wal` is false (a backup copy stays
    /// one file), waiting up to 5 s for another process's lock.
    public static func open(path: String, logger: Logger, wal: Bool = true) async throws(StoreError) -> SQLiteBackend {
        makePrivate(path, logger: logger)
        let connection: SQLiteConnection
        do {
            connection = try await SQLiteConnection.open(
                storage: .file(path: path), threadPool: NIOThreadPool.singleton, logger: logger,
                on: MultiThreadedEventLoopGroup.singleton.any())
        } catch {
            throw StoreError(.unreachable, "cannot open the SQLite store at \(path): \(error)", location: path)
        }
        do {
            let _: [SQLiteRow] = try await connection.query("PRAGMA busy_timeout = 5000", [])
            if wal { let _: [SQLiteRow] = try await connection.query("PRAGMA journal_mode = WAL", []) }
            let _: [SQLiteRow] = try await connection.query("PRAGMA foreign_keys = ON", [])
            let _: [SQLiteRow] = try await connection.query("PRAGMA synchronous = FULL", [])
            return SQLiteBackend(connection: connection, location: path)
        } catch {
            // Not a database, or a damaged one: SQLite says so at the first statement.
            await Self.close(connection)
            throw StoreError(.unreachable, "cannot open the SQLite store at \(path): \(error)", location: path)
        }
    }

    /// The store holds HA1 values: its file is created readable by its owner only (SQLite gives
    /// its WAL and shared-memory files the same mode), and an existing file others can read is
    /// closed to them, with a log line.
    static func makePrivate(_ path: String, logger: Logger) {
        let descriptor = Glibc.open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { return }  // SQLite's own open reports why.
        defer { Glibc.close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.st_mode & 0o077 != 0 else { return }
        fchmod(descriptor, 0o600)
        for companion in [path + "-wal", path + "-shm"] { chmod(companion, 0o600) }
        logger.notice(
            "the store's files were readable by other users; now by their owner only",
            metadata: ["file": "\(path)", "mode was": "\(String(status.st_mode & 0o777, radix: 8))"])
    }

    private init(connection: SQLiteConnection, location: String) {
        self.connection = connection
        self.location = location
    }

    public func transaction<T: Sendable>(
        readOnly: Bool, _ body: @escaping @Sendable (any SQLSession) async throws -> T
    ) async throws -> T {
        // One transaction at a time on the one connection: the actor alone would interleave them at awaits.
        await acquire()
        defer { release() }
        return try await Session(connection: connection).run(begin: readOnly ? "BEGIN" : "BEGIN IMMEDIATE", body)
    }

    /// Writes a consistent copy of the whole database to `path` while readers and writers go on
    /// (SQLite's online `VACUUM INTO`: one read transaction, a compact file, no WAL to carry).
    public func copy(to path: String) async throws(StoreError) {
        await acquire()
        defer { release() }
        do {
            let _: [SQLiteRow] = try await connection.query("VACUUM INTO ?", [.text(path)])
        } catch {
            throw StoreError(
                .localFile, "could not copy the SQLite store \(location) to \(path): \(error)", location: location)
        }
    }

    public nonisolated func listenForChanges(_ onChange: @escaping @Sendable (String) -> Void) async throws {}

    public func close() async {
        await Self.close(connection)
    }

    /// Closes `connection` even from a cancelled task: SQLiteNIO's async `close()` gives up at
    /// once when its task is cancelled (a node whose start a failing sibling service cancels),
    /// which would leave the file open and trap in the connection's deinit.
    private static func close(_ connection: SQLiteConnection) async {
        let closing: EventLoopFuture<Void> = connection.close()
        try? await closing.get()
    }

    private func acquire() async {
        guard busy else {
            busy = true
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    private func release() {
        if waiters.isEmpty {
            busy = false
        } else {
            waiters.removeFirst().resume()
        }
    }

    private struct Session: SQLSession {
        let connection: SQLiteConnection

        @discardableResult
        func execute(_ sql: String, _ binds: [SQLValue]) async throws -> [[SQLValue]] {
            let data = binds.map { value -> SQLiteData in
                switch value {
                case .text(let text): return .text(text)
                case .integer(let integer): return .integer(Int(integer))
                case .null: return .null
                }
            }
            let rows: [SQLiteRow] = try await connection.query(sql, data)
            return rows.map { row in
                row.columns.map { column in
                    switch column.data {
                    case .integer(let integer): return .integer(Int64(integer))
                    case .text(let text): return .text(text)
                    case .float(let double): return .text(String(double))
                    case .blob(let buffer): return .text(String(buffer: buffer))
                    case .null: return .null
                    }
                }
            }
        }
    }
}
