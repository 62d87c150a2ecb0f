public import BallastCore
public import BallastStore
import Foundation
import Logging

/// A migrated, empty store for one test: a SQLite file, a database of its own on the shared
/// PostgreSQL cluster, or (`ownServer`, for a test that stops it) a PostgreSQL server of its own.
public final class StoreFixture {
    /// The store, migrated.
    public let store: DirectoryStore
    /// Its own server, when asked for.
    public let postgres: TestPostgres?
    let database: TestDatabase?
    /// A folder of its own (the SQLite file, backups).
    public let folder: String

    /// A store on `dialect`.
    /// A migrated store of `dialect`; on PostgreSQL, a database of the shared test server (or a
    /// server of its own), whose operations may wait `deadline` for it.
    public static func make(
        _ dialect: SQLDialect, ownServer: Bool = false, deadline: Duration = PostgresBackend.defaultDeadline
    ) async throws -> StoreFixture {
        let folder = NSTemporaryDirectory() + "ballast-store-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var logger = Logger(label: "store-test")
        logger.logLevel = .warning
        switch dialect {
        case .sqlite:
            let store = try await DirectoryStore.open("\(folder)/ballast.db", logger: logger)
            try await store.migrate()
            return StoreFixture(store: store, postgres: nil, database: nil, folder: folder)
        case .postgres where ownServer:
            let postgres = try TestPostgres()
            let store = try await DirectoryStore.open(postgres.url, deadline: deadline, logger: logger)
            try await store.migrate()
            return StoreFixture(store: store, postgres: postgres, database: nil, folder: folder)
        case .postgres:
            let database = try TestPostgres.database()
            let store = try await DirectoryStore.open(database.url, deadline: deadline, logger: logger)
            try await store.migrate()
            return StoreFixture(store: store, postgres: nil, database: database, folder: folder)
        }
    }

    private init(store: DirectoryStore, postgres: TestPostgres?, database: TestDatabase?, folder: String) {
        self.store = store
        self.postgres = postgres
        self.database = database
        self.folder = folder
    }

    /// Closes the store and removes what it made.
    public func close() async {
        await store.close()
        postgres?.remove()
        database?.drop()
        try? FileManager.default.removeItem(atPath: folder)
    }
}

/// The deployment and directory the plan tests start from.
public enum PlanFixture {
    /// Two sites, hq and dr, one pool and one mailbox server each, each pool the other's backup.
    public static func topology(folder: String, holdDown: Duration = .zero) -> Topology {
        var topology = Topology(
            sites: [Site(name: "hq", holdDown: holdDown), Site(name: "dr", holdDown: holdDown)],
            pools: [
                Pool(
                    name: "pool-hq", site: "hq", backupPool: "pool-dr",
                    servers: [Server(name: "EX1", address: IPAddress("10.0.1.21")!)]),
                Pool(
                    name: "pool-dr", site: "dr", backupPool: "pool-hq",
                    servers: [Server(name: "EX3", address: IPAddress("10.0.2.21")!)]),
            ])
        topology.store = StoreSettings(location: "unused", realm: "contoso.com")
        topology.backup = BackupSettings(folder: "\(folder)/backups")
        return topology
    }

    /// DB01 active at hq, DB02 at dr, and `users` users, two of three homed at hq.
    public static func seed(_ store: DirectoryStore, users: Int = 30) async throws {
        var changes: [DirectoryChange] = [
            .putDatabase(MailboxDatabase(name: "DB01", copies: ["EX1", "EX3"], active: "EX1")),
            .putDatabase(MailboxDatabase(name: "DB02", copies: ["EX3", "EX1"], active: "EX3")),
        ]
        for index in 0..<users {
            changes.append(
                .putUser(
                    DirectoryUser(
                        sipURI: "sip:u\(index)@contoso.com", authName: "u\(index)",
                        ha1: [.md5: String(repeating: "a", count: 32), .sha256: String(repeating: "b", count: 64)],
                        homePool: index % 3 == 2 ? "pool-dr" : "pool-hq", mail: nil, mailboxDatabase: "DB01",
                        contacts: ["sip:friend\(index)@contoso.com"])))
        }
        try await store.apply(changes, actor: "setup")
    }
}
