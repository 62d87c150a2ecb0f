public import BallastCore
public import Foundation
public import Logging

/// The directory kept in a store: migrations, consistent snapshots, and writes that bump the
/// revision and record their history in the same transaction.
public struct DirectoryStore: Sendable {
    /// The database underneath.
    public let backend: any StoreBackend
    let logger: Logger

    /// Where a plan made while the store is read-only waits for the promotion of a standby.
    public let pendingPlanFile: String?

    /// A store over `backend`; call `migrate()` before the first use.
    public init(backend: any StoreBackend, pendingPlanFile: String? = nil, logger: Logger) {
        self.backend = backend
        self.pendingPlanFile = pendingPlanFile
        self.logger = logger
    }

    /// Opens the store a config names: a SQLite file path, or a `postgres://` URL and its standbys.
    /// `pendingPlanFile` keeps a failover plan made while only a standby answers, until it is promoted.
    /// A PostgreSQL server that does not answer an operation within `deadline` is taken as unreachable.
    public static func open(
        _ location: String, standbys: [String] = [], pendingPlanFile: String? = nil,
        deadline: Duration = PostgresBackend.defaultDeadline, logger: Logger
    ) async throws(StoreError) -> DirectoryStore {
        let backend: any StoreBackend
        if location.hasPrefix("postgres://") || location.hasPrefix("postgresql://") {
            backend = try PostgresBackend(url: location, standbys: standbys, deadline: deadline, logger: logger)
        } else {
            backend = try await SQLiteBackend.open(path: location, logger: logger)
        }
        return DirectoryStore(backend: backend, pendingPlanFile: pendingPlanFile, logger: logger)
    }

    /// Opens the store `settings` describe.
    public static func open(_ settings: StoreSettings, logger: Logger) async throws(StoreError) -> DirectoryStore {
        try await open(
            settings.location, standbys: settings.standbys, pendingPlanFile: settings.pendingPlanFile, logger: logger)
    }

    /// Brings the schema to the newest version, one transaction per step; returns the version.
    @discardableResult
    public func migrate() async throws(StoreError) -> Int {
        let dialect = backend.dialect
        // A current schema needs no write, which is all a standby allows.
        let version = try? await run(readOnly: true) { session in
            Int(
                try await session.execute("SELECT COALESCE(MAX(version), 0) FROM ballast_schema", []).first?.first?
                    .integer ?? 0)
        }
        if version == Migrations.latest { return Migrations.latest }
        return try await run { session in
            try await session.execute(
                "CREATE TABLE IF NOT EXISTS ballast_schema (version INTEGER PRIMARY KEY, summary TEXT NOT NULL, applied_at TEXT NOT NULL)",
                [])
            if dialect == .postgres {
                try await session.execute("LOCK TABLE ballast_schema IN EXCLUSIVE MODE", [])
            }
            let rows = try await session.execute("SELECT COALESCE(MAX(version), 0) FROM ballast_schema", [])
            let current = Int(rows.first?.first?.integer ?? 0)
            guard current <= Migrations.latest else {
                throw StoreError(
                    .schema,
                    "the store's schema is version \(current), newer than this ballast knows (\(Migrations.latest)): upgrade ballast",
                    location: backend.location)
            }
            for step in Migrations.steps where step.version > current {
                for statement in step.statements(dialect) {
                    try await session.execute(statement, [])
                }
                try await session.execute(
                    "INSERT INTO ballast_schema (version, summary, applied_at) VALUES ($1, $2, $3)",
                    [.integer(Int64(step.version)), .text(step.summary), .text(Self.timestamp(Date()))])
            }
            return Migrations.latest
        }
    }

    /// The revision: bumped by every write.
    public func revision() async throws(StoreError) -> UInt64 {
        try await run(readOnly: true) { session in try await Self.revision(session) }
    }

    /// Every user and database, and the revision they belong to, read in one transaction.
    public func snapshot() async throws(StoreError) -> Directory {
        try await run(readOnly: true) { session in
            let revision = try await Self.revision(session)
            let userRows = try await session.execute(
                """
                SELECT sip_uri, auth_name, mail, ha1_md5, ha1_sha256, home_pool, mailbox_database, contacts, ha1_aliases
                FROM users ORDER BY sip_uri
                """, [])
            let users = userRows.map(Self.user)
            let databaseRows = try await session.execute(
                "SELECT name, active_server FROM mailbox_databases ORDER BY name", [])
            let copyRows = try await session.execute(
                "SELECT database_name, server FROM database_copies ORDER BY database_name, position", [])
            var copies: [String: [String]] = [:]
            for row in copyRows {
                copies[row[0].text ?? "", default: []].append(row[1].text ?? "")
            }
            let databases = databaseRows.map { row in
                let name = row[0].text ?? ""
                return MailboxDatabase(name: name, copies: copies[name] ?? [], active: row[1].text ?? "")
            }
            var fenced: [String: String] = [:]
            var changes: [String: String] = [:]
            for row in try await session.execute("SELECT name, fenced, changed_at FROM sites", []) {
                let name = row[0].text ?? ""
                changes[name] = row[2].text ?? ""
                if row[1].integer == 1 { fenced[name] = row[2].text ?? "" }
            }
            return Directory(
                users: users, databases: databases, fencedSites: fenced, siteChanges: changes, revision: revision)
        }
    }

    /// Applies `changes` in one transaction, in order, by `actor`; returns the new revision.
    /// Nothing is applied when one of them is refused, or when the process dies before the commit.
    /// `progress` hears every thousand changes written (inside the transaction, not yet committed).
    @discardableResult
    public func apply(
        _ changes: [DirectoryChange], actor: String, at date: Date = Date(), lease: PlanLease? = nil,
        progress: @escaping @Sendable (Int) -> Void = { _ in }
    ) async throws(StoreError) -> UInt64 {
        guard !changes.isEmpty else { return try await revision() }
        let location = backend.location
        let dialect = backend.dialect
        return try await run { session in
            // A plan's step writes only while its runner holds the plan, checked in this transaction.
            if let lease { try await Self.hold(lease, session: session, now: date, location: location) }
            let rows = try await session.execute(
                "UPDATE ballast_revision SET revision = revision + 1 WHERE id = 1 RETURNING revision", [])
            guard let next = rows.first?.first?.integer else {
                throw StoreError(
                    .schema, "the store at \(location) has no revision row: run `ballast db migrate`",
                    location: location)
            }
            let revision = Int64(next)
            let when = Self.timestamp(date)
            for (index, change) in changes.enumerated() {
                if index > 0 && index % 1000 == 0 { progress(index) }
                // A conditional change that found nothing to do leaves no history entry.
                guard try await Self.apply(change, revision: revision, at: when, session: session, location: location)
                else { continue }
                try await session.execute(
                    "INSERT INTO history (revision, at, actor, action, subject, detail) VALUES ($1, $2, $3, $4, $5, $6)",
                    [
                        .integer(revision), .text(when), .text(actor), .text(change.action), .text(change.subject),
                        .text(change.detail),
                    ])
            }
            if dialect == .postgres {
                try await session.execute(
                    "SELECT pg_notify($1, $2)", [.text(PostgresBackend.channel), .text(String(revision))])
            }
            return UInt64(revision)
        }
    }

    /// Applies `changes` in transactions of `batch` changes each, so that a large import or a
    /// move of thousands of users holds no lock for long; `progress` hears how many are applied.
    /// Returns the last revision.
    @discardableResult
    public func applyInBatches(
        _ changes: [DirectoryChange], actor: String, batch: Int = 1000, lease: PlanLease? = nil,
        progress: (Int) -> Void = { _ in }
    ) async throws(StoreError) -> UInt64 {
        var revision = try await revision()
        for start in stride(from: 0, to: changes.count, by: batch) {
            let end = min(start + batch, changes.count)
            revision = try await apply(Array(changes[start..<end]), actor: actor, lease: lease)
            progress(end)
        }
        return revision
    }

    /// The newest history entries, newest first; only those about `subject` when given.
    public func history(subject: String? = nil, limit: Int = 100) async throws(StoreError) -> [HistoryEntry] {
        try await run(readOnly: true) { session in
            let rows: [[SQLValue]]
            let columns = "SELECT revision, at, actor, action, subject, detail FROM history"
            if let subject {
                rows = try await session.execute(
                    "\(columns) WHERE subject = $1 ORDER BY id DESC LIMIT $2", [.text(subject), .integer(Int64(limit))])
            } else {
                rows = try await session.execute("\(columns) ORDER BY id DESC LIMIT $1", [.integer(Int64(limit))])
            }
            return rows.map { row in
                HistoryEntry(
                    revision: UInt64(row[0].integer ?? 0), at: row[1].text ?? "", actor: row[2].text ?? "",
                    action: row[3].text ?? "", subject: row[4].text ?? "", detail: row[5].text ?? "")
            }
        }
    }

    /// Writes a consistent backup of the directory into `folder`; returns the file's path and the backup.
    @discardableResult
    public func backup(
        into folder: String, realm: String, at date: Date = Date()
    ) async throws -> (path: String, backup: DirectoryBackup) {
        if let sqlite = backend as? SQLiteBackend {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let temporary = (folder as NSString).appendingPathComponent(
                ".ballast-backup-\(UUID().uuidString.prefix(8)).partial")
            do {
                let backup = try await SQLiteBackup.write(
                    from: sqlite, to: temporary, realm: realm, at: date, logger: logger)
                try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: temporary)
                let path = (folder as NSString).appendingPathComponent(
                    DirectoryBackup.fileName(revision: backup.directory.revision, at: date, suffix: "sqlite"))
                try Self.replace(path, with: temporary)
                return (path, backup)
            } catch {
                try? FileManager.default.removeItem(atPath: temporary)
                throw error
            }
        }
        let backup = DirectoryBackup(directory: try await snapshot(), realm: realm, created: date)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let path = (folder as NSString).appendingPathComponent(
            DirectoryBackup.fileName(revision: backup.directory.revision, at: date))
        let temporary = path + ".partial"
        guard
            FileManager.default.createFile(
                atPath: temporary, contents: try backup.encoded(), attributes: [.posixPermissions: 0o600])
        else { throw StoreError(.unreachable, "cannot write \(temporary)", location: folder) }
        try Self.replace(path, with: temporary)
        return (path, backup)
    }

    /// Puts `temporary` in `path`'s place at once; a backup of the same revision taken within the
    /// same second has the same name and the same contents.
    private static func replace(_ path: String, with temporary: String) throws {
        guard rename(temporary, path) == 0 else {
            throw StoreError(
                .localFile, "cannot move \(temporary) to \(path): \(String(cString: strerror(errno)))", location: path)
        }
    }

    /// Makes the store hold exactly `backup`'s directory (users, contact lists, databases), in one
    /// transaction recorded as `actor`'s; returns the new revision.
    @discardableResult
    public func restore(_ backup: DirectoryBackup, actor: String) async throws(StoreError) -> UInt64 {
        try await apply(backup.changes(replacing: try await snapshot()), actor: actor)
    }

    /// Promotes a PostgreSQL hot standby to primary (after the old primary is fenced); says what it
    /// found. Nil on SQLite, which has no standby.
    public func promoteIfStandby() async throws(StoreError) -> String? {
        guard let postgres = backend as? PostgresBackend else { return nil }
        return try await postgres.promote()
    }

    /// Closes the backend's connections.
    public func close() async { await backend.close() }

    // MARK: - Inside a transaction

    /// Applies one change; false when a conditional change (`moveHome`) found nothing to do.
    private static func apply(
        _ change: DirectoryChange, revision: Int64, at when: String, session: any SQLSession, location: String
    ) async throws -> Bool {
        switch change {
        case .fenceSite(let site), .unfenceSite(let site):
            let fenced: Int64
            if case .fenceSite = change { fenced = 1 } else { fenced = 0 }
            try await session.execute(
                """
                INSERT INTO sites (name, fenced, changed_at, revision) VALUES ($1, $2, $3, $4)
                ON CONFLICT (name) DO UPDATE SET fenced = excluded.fenced, changed_at = excluded.changed_at,
                    revision = excluded.revision
                WHERE sites.fenced <> excluded.fenced
                """, [.text(site), .integer(fenced), .text(when), .integer(revision)])
        case .putUser(let user):
            try await session.execute(
                """
                INSERT INTO users (sip_uri, auth_name, mail, ha1_md5, ha1_sha256, home_pool, mailbox_database, contacts, revision,
                    ha1_aliases)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                ON CONFLICT (sip_uri) DO UPDATE SET auth_name = excluded.auth_name, mail = excluded.mail,
                    ha1_md5 = excluded.ha1_md5, ha1_sha256 = excluded.ha1_sha256, home_pool = excluded.home_pool,
                    mailbox_database = excluded.mailbox_database, contacts = excluded.contacts, revision = excluded.revision,
                    ha1_aliases = excluded.ha1_aliases
                """,
                [
                    .text(user.sipURI), .text(user.authName), .optional(user.mail), .optional(user.ha1[.md5]),
                    .optional(user.ha1[.sha256]), .optional(user.homePool), .optional(user.mailboxDatabase),
                    .text(encode(contacts: user.contacts)), .integer(revision),
                    .text(user.encodedAliases(separator: "\n")),
                ])
        case .removeUser(let uri):
            try await requireUser(uri, session: session, location: location)
            try await session.execute("DELETE FROM users WHERE sip_uri = $1", [.text(uri)])
        case .putDatabase(let database):
            guard database.copies.contains(database.active) else {
                throw StoreError(
                    .invalidChange,
                    "database \(database.name): active copy \(database.active) is not one of its copies (\(database.copies.joined(separator: ", ")))",
                    location: location)
            }
            try await session.execute(
                """
                INSERT INTO mailbox_databases (name, active_server, revision) VALUES ($1, $2, $3)
                ON CONFLICT (name) DO UPDATE SET active_server = excluded.active_server, revision = excluded.revision
                """, [.text(database.name), .text(database.active), .integer(revision)])
            try await session.execute("DELETE FROM database_copies WHERE database_name = $1", [.text(database.name)])
            for (position, server) in database.copies.enumerated() {
                try await session.execute(
                    "INSERT INTO database_copies (database_name, position, server) VALUES ($1, $2, $3)",
                    [.text(database.name), .integer(Int64(position)), .text(server)])
            }
        case .removeDatabase(let name):
            let rows = try await session.execute(
                "DELETE FROM mailbox_databases WHERE name = $1 RETURNING name", [.text(name)])
            guard !rows.isEmpty else {
                throw StoreError(.invalidChange, "no mailbox database \(name) in the directory", location: location)
            }
        case .activate(let name, let server):
            let copies = try await session.execute(
                "SELECT server FROM database_copies WHERE database_name = $1 ORDER BY position", [.text(name)])
            guard !copies.isEmpty else {
                throw StoreError(
                    .invalidChange, "no mailbox database \(name) in the directory: see `ballast db list`",
                    location: location)
            }
            let servers = copies.compactMap { $0.first?.text }
            guard servers.contains(server) else {
                throw StoreError(
                    .invalidChange,
                    "database \(name) has no copy on \(server); its copies are on \(servers.joined(separator: ", "))",
                    location: location)
            }
            try await session.execute(
                "UPDATE mailbox_databases SET active_server = $1, revision = $2 WHERE name = $3",
                [.text(server), .integer(revision), .text(name)])
        case .setHome(let uri, let pool):
            try await requireUser(uri, session: session, location: location)
            try await session.execute(
                "UPDATE users SET home_pool = $1, revision = $2 WHERE sip_uri = $3",
                [.optional(pool), .integer(revision), .text(uri)])
        case .setContacts(let uri, let contacts):
            try await requireUser(uri, session: session, location: location)
            try await session.execute(
                "UPDATE users SET contacts = $1, revision = $2 WHERE sip_uri = $3",
                [.text(encode(contacts: contacts)), .integer(revision), .text(uri)])
        case .moveHome(let uri, let from, let to):
            let moved = try await session.execute(
                "UPDATE users SET home_pool = $1, revision = $2 WHERE sip_uri = $3 AND home_pool = $4 RETURNING sip_uri",
                [.text(to), .integer(revision), .text(uri), .text(from)])
            return !moved.isEmpty
        }
        return true
    }

    private static func requireUser(_ uri: String, session: any SQLSession, location: String) async throws {
        let rows = try await session.execute("SELECT 1 FROM users WHERE sip_uri = $1", [.text(uri)])
        guard !rows.isEmpty else {
            throw StoreError(.invalidChange, "no user \(uri) in the directory", location: location)
        }
    }

    private static func revision(_ session: any SQLSession) async throws -> UInt64 {
        let rows = try await session.execute("SELECT revision FROM ballast_revision WHERE id = 1", [])
        return UInt64(rows.first?.first?.integer ?? 0)
    }

    private static func user(_ row: [SQLValue]) -> DirectoryUser {
        var ha1: [DigestAlgorithm: String] = [:]
        if let md5 = row[3].text { ha1[.md5] = md5 }
        if let sha256 = row[4].text { ha1[.sha256] = sha256 }
        return DirectoryUser(
            sipURI: row[0].text ?? "", authName: row[1].text ?? "", ha1: ha1,
            ha1Aliases: row.count > 8 ? DirectoryUser.decodeAliases(row[8].text ?? "", separator: "\n") ?? [:] : [:],
            homePool: row[5].text,
            mail: row[2].text, mailboxDatabase: row[6].text, contacts: decode(contacts: row[7].text ?? ""))
    }

    /// Contacts are kept one per line: SIP URIs and mail addresses hold no line breaks.
    private static func encode(contacts: [String]) -> String { contacts.joined(separator: "\n") }

    private static func decode(contacts: String) -> [String] {
        contacts.split(separator: "\n").map(String.init)
    }

    /// ISO 8601 in UTC, to the millisecond.
    static func timestamp(_ date: Date) -> String {
        date.formatted(
            .iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
    }

    /// Runs `body` in a transaction, turning every failure into a `StoreError`.
    func run<T: Sendable>(
        readOnly: Bool = false, _ body: @escaping @Sendable (any SQLSession) async throws -> T
    ) async throws(StoreError) -> T {
        do {
            return try await backend.transaction(readOnly: readOnly, body)
        } catch let error as StoreError {
            throw error
        } catch {
            let text = String(reflecting: error)
            logger.debug("store operation failed", metadata: ["store": "\(backend.location)", "error": "\(text)"])
            throw StoreError(
                .unreachable, "the store at \(backend.location) failed: \(Self.summary(of: error))",
                location: backend.location)
        }
    }

    /// A short reason from a driver error; PostgreSQL's server message when there is one.
    private static func summary(of error: any Error) -> String {
        let text = String(reflecting: error)
        if let range = text.range(of: "message: ") {
            return String(text[range.upperBound...].prefix(200))
        }
        return String(text.prefix(200))
    }
}
