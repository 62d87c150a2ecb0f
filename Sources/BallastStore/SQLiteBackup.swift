import BallastCore
import Foundation
import Logging

/// Backups of a SQLite store as copies of its file, taken online (`VACUUM INTO`): the whole
/// database (directory, history, plans) in a file SQLite opens as it is, plus one row naming the
/// format, realm, revision and the SHA-256 of the directory it holds. Reading one checks the
/// file's integrity and that checksum, so a damaged copy is refused before anything changes.
enum SQLiteBackup {
    /// The first bytes of every SQLite database file.
    static let magic = Data("SQLite format 3\u{0}".utf8)

    /// Copies the store behind `backend` to `path` and stamps the copy; returns what it holds.
    static func write(
        from backend: SQLiteBackend, to path: String, realm: String, at date: Date, logger: Logger
    ) async throws -> DirectoryBackup {
        try? FileManager.default.removeItem(atPath: path)
        try await backend.copy(to: path)
        let copy = DirectoryStore(
            backend: try await SQLiteBackend.open(path: path, logger: logger, wal: false), logger: logger)
        do {
            let backup = DirectoryBackup(directory: try await copy.snapshot(), realm: realm, created: date)
            let digest = backup.digest()
            let counts = (Int64(backup.directory.usersByURI.count), Int64(backup.directory.databases.count))
            try await copy.run { session in
                try await session.execute(
                    """
                    CREATE TABLE ballast_backup (format TEXT NOT NULL, realm TEXT NOT NULL, revision INTEGER NOT NULL,
                        created TEXT NOT NULL, sha256 TEXT NOT NULL, users INTEGER NOT NULL, databases INTEGER NOT NULL)
                    """, [])
                try await session.execute(
                    "INSERT INTO ballast_backup VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    [
                        .text(DirectoryBackup.format), .text(realm), .integer(Int64(backup.directory.revision)),
                        .text(date.formatted(.iso8601)), .text(digest), .integer(counts.0), .integer(counts.1),
                    ])
            }
            await copy.close()
            return backup
        } catch {
            await copy.close()
            throw error
        }
    }

    /// Reads a copy made by `write`, from a scratch copy of its own so that the file stays as it is.
    static func read(path: String, expectedRealm: String?) async throws(DirectoryBackup.ReadError) -> DirectoryBackup {
        let scratch = NSTemporaryDirectory() + "ballast-restore-\(UUID().uuidString.prefix(8)).sqlite"
        defer {
            for suffix in ["", "-wal", "-shm", "-journal"] {
                try? FileManager.default.removeItem(atPath: scratch + suffix)
            }
        }
        do {
            try FileManager.default.copyItem(atPath: path, toPath: scratch)
        } catch {
            throw DirectoryBackup.ReadError(description: "cannot be read: \(error.localizedDescription)")
        }
        var logger = Logger(label: "ballast.restore")
        logger.logLevel = .critical
        let copy: DirectoryStore
        do {
            copy = DirectoryStore(
                backend: try await SQLiteBackend.open(path: scratch, logger: logger, wal: false), logger: logger)
        } catch {
            throw DirectoryBackup.ReadError(description: "is corrupt: SQLite cannot open it")
        }
        let result = await check(copy, expectedRealm: expectedRealm)
        await copy.close()
        return try result.get()
    }

    private static func check(
        _ copy: DirectoryStore, expectedRealm: String?
    ) async -> Result<DirectoryBackup, DirectoryBackup.ReadError> {
        do throws(DirectoryBackup.ReadError) {
            return .success(try await checked(copy, expectedRealm: expectedRealm))
        } catch {
            return .failure(error)
        }
    }

    private static func checked(
        _ copy: DirectoryStore, expectedRealm: String?
    ) async throws(DirectoryBackup.ReadError) -> DirectoryBackup {
        let checked = try? await copy.run(readOnly: true) { session in
            try await session.execute("PRAGMA integrity_check", []).compactMap { $0.first?.text }
        }
        guard let checked, checked == ["ok"] else {
            throw DirectoryBackup.ReadError(
                description:
                    "is corrupt: SQLite's integrity check fails (\(checked?.prefix(2).joined(separator: "; ") ?? "unreadable"))"
            )
        }
        let stamp = try? await copy.run(readOnly: true) { session in
            try await session.execute("SELECT format, realm, revision, created, sha256 FROM ballast_backup", []).first
        }
        guard let row = stamp, row.count == 5, let format = row[0].text, let realm = row[1].text,
            let digest = row[4].text
        else {
            throw DirectoryBackup.ReadError(
                description: "is a SQLite database but not a Ballast backup: it has no ballast_backup stamp")
        }
        guard format == DirectoryBackup.format else {
            throw DirectoryBackup.ReadError(
                description: "is a \(format) file, not \(DirectoryBackup.format): it was not written by this Ballast")
        }
        if let expectedRealm, realm != expectedRealm {
            throw DirectoryBackup.ReadError(
                description: "belongs to realm \(realm), not \(expectedRealm): its HA1 values would never match here")
        }
        guard let directory = try? await copy.snapshot(),
            directory.revision == UInt64(row[2].integer ?? -1),
            let created = try? Date(row[3].text ?? "", strategy: .iso8601)
        else {
            throw DirectoryBackup.ReadError(description: "is corrupt: its directory cannot be read")
        }
        let backup = DirectoryBackup(directory: directory, realm: realm, created: created)
        guard backup.digest() == digest else {
            throw DirectoryBackup.ReadError(
                description: "is corrupt: its contents do not match the checksum recorded in it")
        }
        return backup
    }
}
