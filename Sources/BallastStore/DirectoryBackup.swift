public import BallastCore
import Crypto
public import Foundation

/// A consistent snapshot of the directory (users with their contact lists, databases, revision)
/// in one self-checking file: a header line naming the format, the store's realm, the revision
/// and the SHA-256 of the body, then the body. `read` refuses a file that is not a Ballast backup,
/// belongs to another realm, or does not match its checksum. A SQLite store's backups are copies
/// of its file instead (`SQLiteBackup`), checked the same way; `load` reads either.
public struct DirectoryBackup: Sendable {
    /// What the file holds.
    public var directory: Directory
    /// The realm its HA1 values were computed in.
    public var realm: String
    /// When it was taken.
    public var created: Date

    /// The first bytes of every backup file.
    public static let format = "ballast-directory-backup-1"

    /// A backup of `directory`.
    public init(directory: Directory, realm: String, created: Date = Date()) {
        self.directory = directory
        self.realm = realm
        self.created = created
    }

    /// Why a file cannot be restored.
    public struct ReadError: Error, Hashable, Sendable, CustomStringConvertible {
        /// What is wrong with the file.
        public var description: String
    }

    private struct Header: Codable {
        var format: String
        var realm: String
        var revision: UInt64
        var created: Date
        var sha256: String
        var users: Int
        var databases: Int
    }

    private struct Body: Codable {
        var users: [DirectoryUser]
        var databases: [MailboxDatabase]
    }

    private static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }

    /// The SHA-256 of what the backup holds, over a canonical text (users by URI, HA1 values by
    /// algorithm, databases by name): the same for equal directories however they were read.
    public func digest() -> String {
        var text = ""
        for user in directory.users.sorted(by: { $0.sipURI < $1.sipURI }) {
            let ha1 = user.ha1.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.key.rawValue)=\($0.value)" }
            var fields = [
                user.sipURI, user.authName, ha1.joined(separator: ","), user.homePool ?? "-", user.mail ?? "-",
                user.mailboxDatabase ?? "-", user.contacts.joined(separator: "\u{1E}"),
            ]
            // Only when there are some, so that backups made before aliases existed still check.
            if !user.ha1Aliases.isEmpty {
                fields.append(
                    user.ha1Aliases.sorted { $0.key < $1.key }.flatMap { alias, values in
                        values.sorted { $0.key.rawValue < $1.key.rawValue }.map {
                            "\(alias) \($0.key.rawValue)=\($0.value)"
                        }
                    }.joined(separator: ","))
            }
            text += "user\u{1F}" + fields.joined(separator: "\u{1F}") + "\n"
        }
        for database in directory.allDatabases.sorted(by: { $0.name < $1.name }) {
            text +=
                "database\u{1F}\(database.name)\u{1F}\(database.active)\u{1F}\(database.copies.joined(separator: ","))\n"
        }
        return SHA256.hash(data: Data(text.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// The file's bytes.
    public func encoded() throws -> Data {
        let body = try Self.encoder.encode(Body(users: directory.users, databases: directory.allDatabases))
        let header = Header(
            format: Self.format, realm: realm, revision: directory.revision, created: created,
            sha256: SHA256.hash(data: body).map { String(format: "%02x", $0) }.joined(),
            users: directory.usersByURI.count,
            databases: directory.databases.count)
        return try Self.encoder.encode(header) + Data("\n".utf8) + body + Data("\n".utf8)
    }

    /// Reads the backup file at `path`, either form: a logical file, or a SQLite copy of the store.
    public static func load(path: String, expectedRealm: String?) async throws(ReadError) -> DirectoryBackup {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw ReadError(description: "cannot be read") }
        let magic = (try? handle.read(upToCount: SQLiteBackup.magic.count)) ?? Data()
        try? handle.close()
        if magic == SQLiteBackup.magic {
            return try await SQLiteBackup.read(path: path, expectedRealm: expectedRealm)
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ReadError(description: "cannot be read")
        }
        return try read(data, expectedRealm: expectedRealm)
    }

    /// Reads a backup file's bytes, checking format, realm (when given) and checksum.
    public static func read(_ data: Data, expectedRealm: String?) throws(ReadError) -> DirectoryBackup {
        guard let newline = data.firstIndex(of: UInt8(ascii: "\n")) else {
            throw ReadError(description: "is not a Ballast backup: no header line")
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        guard let header = try? decoder.decode(Header.self, from: data[..<newline]) else {
            throw ReadError(description: "is not a Ballast backup: the first line is not its header")
        }
        guard header.format == format else {
            throw ReadError(
                description: "is a \(header.format) file, not \(format): it was not written by this Ballast")
        }
        if let expectedRealm, header.realm != expectedRealm {
            throw ReadError(
                description:
                    "belongs to realm \(header.realm), not \(expectedRealm): its HA1 values would never match here")
        }
        var body = data[(newline + 1)...]
        if body.last == UInt8(ascii: "\n") { body = body.dropLast() }
        let digest = SHA256.hash(data: body).map { String(format: "%02x", $0) }.joined()
        guard digest == header.sha256 else {
            throw ReadError(description: "is corrupt: its contents do not match the checksum in its header")
        }
        guard let contents = try? decoder.decode(Body.self, from: body) else {
            throw ReadError(description: "is corrupt: its contents cannot be read")
        }
        return DirectoryBackup(
            directory: Directory(users: contents.users, databases: contents.databases, revision: header.revision),
            realm: header.realm, created: header.created)
    }

    /// The changes that make a store hold exactly this backup's directory, given what it holds now.
    public func changes(replacing current: Directory) -> [DirectoryChange] {
        var changes: [DirectoryChange] = []
        for user in current.users where directory.user(sipURI: user.sipURI) == nil {
            changes.append(.removeUser(sipURI: user.sipURI))
        }
        for database in current.allDatabases where directory.database(named: database.name) == nil {
            changes.append(.removeDatabase(name: database.name))
        }
        for database in directory.allDatabases where current.database(named: database.name) != database {
            changes.append(.putDatabase(database))
        }
        for user in directory.users where current.user(sipURI: user.sipURI) != user {
            changes.append(.putUser(user))
        }
        return changes
    }

    /// The file name a backup of revision `revision` taken at `date` gets in a backup folder:
    /// `.backup` for a logical file, `.sqlite` for a copy of a SQLite store.
    public static func fileName(revision: UInt64, at date: Date, suffix: String = "backup") -> String {
        let stamp = date.formatted(
            .iso8601.year().month().day().dateSeparator(.omitted).time(includingFractionalSeconds: false).timeSeparator(
                .omitted
            ).timeZone(
                separator: .omitted))
        return "ballast-\(stamp)-r\(revision).\(suffix)"
    }

    /// Whether `name` is a file name alone: no slash, not `.` or `..`, nothing hidden.
    public static func isPlainFileName(_ name: String) -> Bool {
        !name.isEmpty && !name.hasPrefix(".") && !name.contains("/") && !name.contains("\\") && !name.contains("\0")
    }

    /// The backup files in `folder`, of either form, newest first (by the time in their names).
    public static func files(in folder: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return names.filter { $0.hasPrefix("ballast-") && ($0.hasSuffix(".backup") || $0.hasSuffix(".sqlite")) }.sorted(
            by: >
        ).map {
            (folder as NSString).appendingPathComponent($0)
        }
    }
}
