import BallastCore
import BallastStore
import BallastTestSupport
import Foundation
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
        let read = try DirectoryBackup.read(try Data(contentsOf: URL(fileURLWithPath: path)), expectedRealm: "contoso.com")
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

    @Test func backupFilesSortNewestFirst() {
        let early = DirectoryBackup.fileName(revision: 9, at: Date(timeIntervalSince1970: 1_800_000_000))
        let late = DirectoryBackup.fileName(revision: 3, at: Date(timeIntervalSince1970: 1_800_003_600))
        #expect(early.hasPrefix("ballast-2027") && early.hasSuffix("-r9.backup"))
        #expect([early, late].sorted(by: >) == [late, early])
    }
}
