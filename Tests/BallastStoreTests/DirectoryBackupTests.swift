import BallastCore
import BallastStore
import BallastTestSupport
import Foundation
import Logging
import Testing

/// Backups of the directory: consistent files that restore what they hold, on both backends,
/// and refuse to restore when corrupt, foreign or of another realm.
struct DirectoryBackupTests {
    @Test(arguments: [SQLDialect.sqlite, .postgres])
    func aBackupRestoresUsersContactsAndDatabasesExactly(_ dialect: SQLDialect) async throws {
        let fixture = try await StoreFixture.make(dialect)
        let store = fixture.store
        let db01 = MailboxDatabase(name: "DB01", copies: ["mbx1", "mbx2"], active: "mbx1")
        try await store.apply(
            [.putDatabase(db01), .putUser(user("alice", contacts: ["sip:bob@contoso.com"])), .putUser(user("bob"))],
            actor: "setup")
        let (path, backup) = try await store.backup(into: "\(fixture.folder)/backups", realm: "contoso.com")
        #expect(DirectoryBackup.files(in: "\(fixture.folder)/backups") == [path])
        #expect(backup.directory.revision == 1)

        // Changes after the backup: contacts lost, a user added, one removed, the database moved.
        try await store.apply(
            [
                .setContacts(sipURI: "sip:alice@contoso.com", contacts: []), .putUser(user("mallory")),
                .removeUser(sipURI: "sip:bob@contoso.com"), .activate(database: "DB01", server: "mbx2"),
            ], actor: "incident")
        #expect(path.hasSuffix(dialect == .sqlite ? ".sqlite" : ".backup"))
        let read = try await DirectoryBackup.load(path: path, expectedRealm: "contoso.com")
        #expect(read.directory == backup.directory)
        let revision = try await store.restore(read, actor: "operator")
        #expect(revision == 3)
        let restored = try await store.snapshot()
        #expect(restored.users == backup.directory.users)
        #expect(restored.allDatabases == [db01])
        #expect(restored.user(sipURI: "sip:alice@contoso.com")?.contacts == ["sip:bob@contoso.com"])
        #expect(try await store.history(limit: 10).filter { $0.revision == 3 }.allSatisfy { $0.actor == "operator" })
        // Restoring the same again changes nothing.
        #expect(try await store.restore(read, actor: "operator") == 3)
        await fixture.close()
    }

    @Test func corruptForeignAndOtherRealmFilesAreRefused() throws {
        let backup = DirectoryBackup(
            directory: Directory(users: [user("alice")], databases: [], revision: 7), realm: "contoso.com",
            created: Date(timeIntervalSince1970: 1_800_000_000))
        let good = try backup.encoded()
        let read = try DirectoryBackup.read(good, expectedRealm: "contoso.com")
        #expect(read.directory == backup.directory)
        #expect(read.created == backup.created)

        func refusal(_ data: Data, realm: String? = "contoso.com") -> String {
            do {
                _ = try DirectoryBackup.read(data, expectedRealm: realm)
                return "accepted"
            } catch {
                return error.description
            }
        }
        var flipped = good
        flipped[flipped.count - 10] ^= 0x01
        #expect(refusal(flipped).hasPrefix("is corrupt"))
        #expect(refusal(good.prefix(good.count / 2)).hasPrefix("is corrupt"))
        #expect(refusal(Data("hello\nworld\n".utf8)).hasPrefix("is not a Ballast backup"))
        #expect(refusal(Data()).hasPrefix("is not a Ballast backup"))
        let foreign = String(decoding: good, as: UTF8.self).replacingOccurrences(
            of: DirectoryBackup.format, with: "someone-elses-backup-9")
        #expect(refusal(Data(foreign.utf8)).contains("not written by this Ballast"))
        #expect(refusal(good, realm: "fabrikam.com").contains("belongs to realm contoso.com"))
        for _ in 0..<200 {
            var noise = good
            for _ in 0..<3 { noise[Int.random(in: 0..<noise.count)] = UInt8.random(in: 0...255) }
            _ = refusal(noise)
        }
    }

    /// A SQLite store's backup is an online copy of its file: SQLite opens it as it is, it holds the
    /// history too, and a damaged, foreign or other-realm copy is refused.
    @Test func aSQLiteBackupIsACheckedCopyOfTheWholeStore() async throws {
        let fixture = try await StoreFixture.make(.sqlite)
        let store = fixture.store
        try await store.apply(
            [.putUser(user("alice", contacts: ["sip:bob@contoso.com"])), .putUser(user("bob"))], actor: "setup")
        let (path, backup) = try await store.backup(into: "\(fixture.folder)/backups", realm: "contoso.com")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(bytes.prefix(16) == Data("SQLite format 3\u{0}".utf8))
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int == 0o600)
        #expect(!FileManager.default.fileExists(atPath: path + "-wal"))
        // The copy is a store in its own right: its history came along.
        let scratch = "\(fixture.folder)/opened.sqlite"
        try bytes.write(to: URL(fileURLWithPath: scratch))
        let opened = try await DirectoryStore.open(scratch, logger: Logger(label: "copy"))
        let actors = try await opened.history(limit: 5).map(\.actor)
        await opened.close()
        #expect(actors == ["setup", "setup"])
        #expect(try await DirectoryBackup.load(path: path, expectedRealm: "contoso.com").directory == backup.directory)

        func refusal(_ data: Data, realm: String? = "contoso.com") async throws -> String {
            let damaged = "\(fixture.folder)/damaged-\(UUID().uuidString.prefix(6)).sqlite"
            try data.write(to: URL(fileURLWithPath: damaged))
            defer { try? FileManager.default.removeItem(atPath: damaged) }
            return await Self.answer(loading: damaged, realm: realm)
        }
        // One bit flipped wherever bob's URI is stored (his row, alice's contacts, the history, the
        // index): SQLite may not notice all of them, the checksum does.
        var flipped = bytes
        var found = 0
        while let range = flipped.firstRange(of: Data("sip:bob@contoso.com".utf8)) {
            flipped[range.lowerBound + 4] ^= 0x01
            found += 1
        }
        #expect(found >= 2)
        #expect(try await refusal(flipped).hasPrefix("is corrupt"))
        #expect(try await refusal(bytes.prefix(bytes.count / 2)).hasPrefix("is corrupt"))
        #expect(try await refusal(bytes, realm: "fabrikam.com").contains("belongs to realm contoso.com"))
        // The live store file is a SQLite database, but no backup.
        let live = try Data(contentsOf: URL(fileURLWithPath: "\(fixture.folder)/ballast.db"))
        #expect(try await refusal(live).contains("not a Ballast backup"))
        var header = bytes
        header[3] ^= 0xFF
        #expect(try await refusal(header).hasPrefix("is not a Ballast backup"))
        for _ in 0..<40 {
            var noise = bytes
            for _ in 0..<8 { noise[Int.random(in: 100..<noise.count)] = UInt8.random(in: 0...255) }
            let answer = try await refusal(noise)
            // Noise in the stamp row itself reads as another realm or another format: refused too.
            let refusals = [
                "is corrupt", "is not a Ballast backup", "is a SQLite database but not a Ballast backup",
                "belongs to realm", "is a ",
            ]
            #expect(answer == "accepted" || refusals.contains { answer.hasPrefix($0) }, "\(answer)")
        }
        await fixture.close()
    }

    /// Backups taken while writers go on each hold one revision exactly: the copy is one snapshot.
    @Test func sqliteBackupsTakenDuringWritesAreConsistent() async throws {
        let fixture = try await StoreFixture.make(.sqlite)
        let store = fixture.store
        let writer = Task {
            for index in 0..<60 { try await store.apply([.putUser(user("w\(index)"))], actor: "writer") }
        }
        var paths: [String] = []
        for _ in 0..<6 {
            paths.append(try await store.backup(into: "\(fixture.folder)/backups", realm: "contoso.com").path)
            try await Task.sleep(for: .milliseconds(20))
        }
        try await writer.value
        for path in paths {
            let backup = try await DirectoryBackup.load(path: path, expectedRealm: "contoso.com")
            #expect(backup.directory.users.count == Int(backup.directory.revision))
        }
        await fixture.close()
    }

    @Test func backupFilesSortNewestFirst() {
        let early = DirectoryBackup.fileName(revision: 9, at: Date(timeIntervalSince1970: 1_800_000_000))
        let late = DirectoryBackup.fileName(revision: 3, at: Date(timeIntervalSince1970: 1_800_003_600))
        #expect(early.hasPrefix("ballast-2027") && early.hasSuffix("-r9.backup"))
        #expect([early, late].sorted(by: >) == [late, early])
    }

    /// "accepted", or the refusal's description, for loading the backup at PATH.
    static func answer(loading path: String, realm: String?) async -> String {
        do {
            _ = try await DirectoryBackup.load(path: path, expectedRealm: realm)
            return "accepted"
        } catch {
            return error.description
        }
    }
}
