import BallastCore
import BallastStore
import BallastTestSupport
import Foundation
import Logging
import Synchronization
import Testing

/// A store of either kind for one test: a SQLite file in a temporary folder, or a database on a
/// PostgreSQL server the test starts and stops.
func user(
    _ name: String, home: String? = "pool-hq", database: String? = "DB01", contacts: [String] = []
) -> DirectoryUser {
    DirectoryUser(
        sipURI: "sip:\(name)@contoso.com", authName: name,
        ha1: [.md5: String(repeating: "a", count: 32), .sha256: String(repeating: "b", count: 64)],
        homePool: home, mail: "\(name)@contoso.com", mailboxDatabase: database, contacts: contacts)
}

@Suite("Directory store, on SQLite and on PostgreSQL")
struct DirectoryStoreTests {
    /// The store holds HA1 values: its file, WAL and shared memory are readable by their owner only,
    /// and a store file others could read is closed to them when opened.
    @Test func sqliteFilesAreReadableByTheirOwnerOnly() async throws {
        let fixture = try await StoreFixture.make(.sqlite)
        let path = "\(fixture.folder)/ballast.db"
        _ = try await fixture.store.apply([.putUser(user("alice"))], actor: "test")
        func mode(_ file: String) -> Int? {
            (try? FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int) ?? nil
        }
        for file in [path, path + "-wal", path + "-shm"] {
            #expect(mode(file) == 0o600, "\(file) has mode \(String(mode(file) ?? -1, radix: 8))")
        }
        await fixture.close()

        let folder = NSTemporaryDirectory() + "ballast-store-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let open = "\(folder)/open.db"
        #expect(FileManager.default.createFile(atPath: open, contents: nil, attributes: [.posixPermissions: 0o644]))
        let store = try await DirectoryStore.open(open, logger: Logger(label: "store-test"))
        _ = try await store.migrate()
        #expect(mode(open) == 0o600)
        await store.close()
    }

    @Test(arguments: [SQLDialect.sqlite, .postgres])
    func migrationsRunOnceAndAreRepeatable(_ dialect: SQLDialect) async throws {
        let fixture = try await StoreFixture.make(dialect)
        let version = try await fixture.store.migrate()
        #expect(version == 5)
        #expect(try await fixture.store.revision() == 0)
        let empty = try await fixture.store.snapshot()
        #expect(empty.users.isEmpty && empty.allDatabases.isEmpty)
        await fixture.close()
    }

    @Test(arguments: [SQLDialect.sqlite, .postgres])
    func usersAndDatabasesComeBackAsWritten(_ dialect: SQLDialect) async throws {
        let fixture = try await StoreFixture.make(dialect)
        let store = fixture.store
        let alice = user("alice", contacts: ["sip:bob@contoso.com", "carol@contoso.com"])
        let bob = user("bob", home: nil, database: nil)
        let db01 = MailboxDatabase(name: "DB01", copies: ["mbx1", "mbx2"], active: "mbx1")
        let revision = try await store.apply([.putUser(alice), .putUser(bob), .putDatabase(db01)], actor: "test")
        #expect(revision == 1)
        let directory = try await store.snapshot()
        #expect(directory.revision == 1)
        #expect(directory.user(sipURI: alice.sipURI) == alice)
        #expect(directory.user(sipURI: bob.sipURI) == bob)
        #expect(directory.database(named: "DB01") == db01)
        #expect(directory.user(login: "ALICE@contoso.com") == alice)

        var changed = alice
        changed.mail = "alice.smith@contoso.com"
        changed.ha1 = [.sha256: String(repeating: "c", count: 64)]
        #expect(try await store.apply([.putUser(changed)], actor: "test") == 2)
        #expect(try await store.snapshot().user(sipURI: alice.sipURI) == changed)
        await fixture.close()
    }

    @Test(arguments: [SQLDialect.sqlite, .postgres])
    func activationMovesTheActiveCopyAndIsInTheHistory(_ dialect: SQLDialect) async throws {
        let fixture = try await StoreFixture.make(dialect)
        let store = fixture.store
        try await store.apply(
            [.putDatabase(MailboxDatabase(name: "DB01", copies: ["mbx1", "mbx2"], active: "mbx1"))], actor: "setup")
        try await store.apply([.activate(database: "DB01", server: "mbx2")], actor: "operator")
        #expect(try await store.snapshot().database(named: "DB01")?.active == "mbx2")
        let history = try await store.history(subject: "DB01")
        #expect(history.map(\.action) == ["database.activate", "database.put"])
        #expect(history.first?.actor == "operator")
        #expect(history.first?.detail == "active=mbx2")
        #expect(history.first?.revision == 2)
        #expect(history.first?.at.hasSuffix("Z") == true)
        await fixture.close()
    }

    @Test(arguments: [SQLDialect.sqlite, .postgres])
    func aRefusedChangeLeavesTheWholeBatchUnapplied(_ dialect: SQLDialect) async throws {
        let fixture = try await StoreFixture.make(dialect)
        let store = fixture.store
        try await store.apply(
            [.putDatabase(MailboxDatabase(name: "DB01", copies: ["mbx1", "mbx2"], active: "mbx1"))], actor: "setup")
        await #expect(throws: StoreError.self) {
            try await store.apply([.putUser(user("dave")), .activate(database: "DB01", server: "mbx9")], actor: "t")
        }
        do {
            try await store.apply([.activate(database: "DB01", server: "mbx9")], actor: "t")
            Issue.record("activation on a server without a copy was accepted")
        } catch {
            #expect(error.code == .invalidChange)
            #expect(error.description.contains("no copy on mbx9"))
            #expect(error.description.contains("mbx1, mbx2"))
        }
        await #expect(throws: StoreError.self) {
            try await store.apply([.removeUser(sipURI: "sip:nobody@x")], actor: "t")
        }
        await #expect(throws: StoreError.self) {
            try await store.apply([.activate(database: "DB99", server: "mbx1")], actor: "t")
        }
        await #expect(throws: StoreError.self) {
            try await store.apply([.putDatabase(MailboxDatabase(name: "DB02", copies: ["a"], active: "b"))], actor: "t")
        }
        let directory = try await store.snapshot()
        #expect(directory.revision == 1)
        #expect(directory.user(sipURI: "sip:dave@contoso.com") == nil)
        #expect(try await store.history().count == 1)
        await fixture.close()
    }

    @Test(arguments: [SQLDialect.sqlite, .postgres])
    func homesContactsAndRemovals(_ dialect: SQLDialect) async throws {
        let fixture = try await StoreFixture.make(dialect)
        let store = fixture.store
        let alice = user("alice")
        try await store.apply([.putUser(alice), .putUser(user("bob"))], actor: "setup")
        try await store.apply(
            [
                .setHome(sipURI: alice.sipURI, pool: "pool-dr"),
                .setContacts(sipURI: alice.sipURI, contacts: ["sip:bob@contoso.com"]),
            ],
            actor: "plan")
        try await store.apply([.removeUser(sipURI: "sip:bob@contoso.com")], actor: "operator")
        let directory = try await store.snapshot()
        #expect(directory.user(sipURI: alice.sipURI)?.homePool == "pool-dr")
        #expect(directory.user(sipURI: alice.sipURI)?.contacts == ["sip:bob@contoso.com"])
        #expect(directory.user(sipURI: "sip:bob@contoso.com") == nil)
        #expect(directory.revision == 3)
        #expect(try await store.history(limit: 2).map(\.action) == ["user.remove", "user.contacts"])
        await fixture.close()
    }

    /// 24 writers at once queue on the revision row; the last may wait longer than the default
    /// deadline on a loaded machine (it did once, beside the parallel suites), and the point here
    /// is that none is lost, so the deadline is long.
    @Test(arguments: [SQLDialect.sqlite, .postgres])
    func concurrentWritersLoseNothing(_ dialect: SQLDialect) async throws {
        let fixture = try await StoreFixture.make(dialect, deadline: .seconds(30))
        let store = fixture.store
        try await withThrowingTaskGroup(of: UInt64.self) { group in
            for index in 0..<24 {
                group.addTask { try await store.apply([.putUser(user("user\(index)"))], actor: "writer\(index)") }
            }
            var revisions: Set<UInt64> = []
            for try await revision in group { revisions.insert(revision) }
            #expect(revisions == Set(1...24))
        }
        let directory = try await store.snapshot()
        #expect(directory.users.count == 24)
        #expect(directory.revision == 24)
        await fixture.close()
    }

    @Test func postgresNotifiesEveryWrite() async throws {
        let fixture = try await StoreFixture.make(.postgres)
        let store = fixture.store
        let seen = NotificationLog()
        let listener = Task { try await store.backend.listenForChanges { seen.add($0) } }
        // The listener is up once a write it sees arrives; keep writing until then.
        var attempts = 0
        #expect(
            try await eventually(every: .milliseconds(100)) {
                attempts += 1
                try await store.apply([.putUser(user("n\(attempts)"))], actor: "t")
                return !seen.values.isEmpty
            })
        let last = try await store.apply([.putUser(user("last"))], actor: "t")
        #expect(await eventually { seen.values.contains(String(last)) })
        listener.cancel()
        await fixture.close()
    }

    @Test func writesFailClearlyWhilePostgresIsDownAndWorkWhenItReturns() async throws {
        let fixture = try await StoreFixture.make(.postgres, ownServer: true)
        let store = fixture.store
        try await store.apply([.putUser(user("before"))], actor: "t")
        fixture.postgres?.stop()
        let started = ContinuousClock.now
        do {
            try await store.apply([.putUser(user("during"))], actor: "t")
            Issue.record("a write succeeded with the store down")
        } catch {
            #expect(error.code == .unreachable)
            #expect(error.description.contains("changes are refused"))
        }
        #expect(ContinuousClock.now - started < .seconds(10))
        try fixture.postgres?.start()
        var revision: UInt64?
        _ = await eventually(timeout: .seconds(15), every: .milliseconds(200)) {
            revision = try? await store.apply([.putUser(user("after"))], actor: "t")
            return revision != nil
        }
        #expect(revision == 2)
        let names = try await store.snapshot().users.map(\.authName)
        #expect(names == ["after", "before"])
        await fixture.close()
    }
}

/// Notification payloads seen by a listener, from any thread.
final class NotificationLog: Sendable {
    private let lock = Mutex<[String]>([])
    func add(_ value: String) { lock.withLock { $0.append(value) } }
    var values: [String] { lock.withLock { $0 } }
}
