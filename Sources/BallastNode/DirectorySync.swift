public import BallastCore
public import BallastStore
import Foundation
public import Logging
public import ServiceLifecycle

/// Keeps the published directory equal to the store's: loads it at start, then follows the
/// revision by PostgreSQL notifications and by polling. While the store is unreachable the node
/// serves from the last directory it applied (kept in the cache file) and catches up when it returns.
public actor DirectorySync: Service {
    private let settings: StoreSettings
    private let state: PublishedState
    private let logger: Logger
    private let cache: DirectoryCache
    private var store: DirectoryStore?
    private var reachable = true
    /// Started from the cache file; the store is not read yet.
    private var starting = false
    private var wake: AsyncStream<Void>.Continuation?
    /// The wakes `run` follows, made by `start`.
    private var wakes: AsyncStream<Void>?

    private let backups: BackupSettings?

    /// A follower of the store `settings` names, publishing into `state`; it also takes the
    /// scheduled backups `backups` asks for.
    public init(settings: StoreSettings, backups: BackupSettings? = nil, state: PublishedState, logger: Logger) {
        self.settings = settings
        self.backups = backups
        self.state = state
        self.logger = logger
        self.cache = DirectoryCache(path: settings.cacheFile)
    }

    /// Loads the directory and starts following the store. With a cache file (the last directory
    /// applied), that is published at once and the store is read in the background, so that a
    /// node never serves from an empty directory while the store is asked (up to its connect
    /// timeout when it is down). Without one, the store must answer now; fails otherwise.
    public func start() async throws(StoreError) {
        if let cached = cache.load() {
            state.replaceDirectory(cached)
            starting = true
        } else {
            let store = try await DirectoryStore.open(settings, logger: logger)
            do {
                try await store.migrate()
                try await refresh(store)
            } catch {
                // Started never: nobody else would close it (a start cancelled by a failing
                // sibling service, say, ends here).
                await store.close()
                throw error
            }
            self.store = store
        }
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        wake = continuation
        wakes = stream
        if starting { continuation.yield() }
    }

    /// Follows the store (by its notifications and by polling) and takes the scheduled backups,
    /// until cancelled; then closes the store. Call once, after `start()`.
    public func run() async {
        guard let wakes else { return }
        self.wakes = nil
        await withDiscardingTaskGroup { group in
            group.addTask { await self.follow(wakes) }
            group.addTask { await self.tick() }
            group.addTask { await self.listen() }
            if let backups = self.backups, let every = backups.every {
                group.addTask { await self.backUp(every: every, settings: backups) }
            }
        }
        wake?.finish()
        await store?.close()
        store = nil
    }

    /// Takes a backup every `every` into the backup folder and keeps the newest `keep` files.
    private func backUp(every: Duration, settings backups: BackupSettings) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: every)
            guard !Task.isCancelled, let store else { continue }
            do {
                let (path, backup) = try await store.backup(into: backups.folder, realm: settings.realm)
                logger.info(
                    "directory backed up",
                    metadata: [
                        "file": "\(path)", "users": "\(backup.directory.usersByURI.count)",
                        "revision": "\(backup.directory.revision)",
                    ])
                for old in DirectoryBackup.files(in: backups.folder).dropFirst(backups.keep) {
                    try? FileManager.default.removeItem(atPath: old)
                }
            } catch {
                logger.error(
                    "scheduled backup failed; the next one is tried in \(every)", metadata: ["reason": "\(error)"])
            }
        }
    }

    /// Closes the store of a follower that started but will not run (its start was undone).
    public func close() async {
        wake?.finish()
        await store?.close()
        store = nil
    }

    /// The store, once opened (for writes that go through this node).
    public var directoryStore: DirectoryStore? { store }

    private func tick() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: settings.pollInterval)
            wake?.yield()
        }
    }

    private func listen() async {
        while !Task.isCancelled {
            // The store is opened by `follow` alone (one client at a time); this listens on it.
            if let backend = store?.backend {
                let wake = self.wake
                do {
                    try await backend.listenForChanges { _ in wake?.yield() }
                } catch {
                    logger.debug("store notifications interrupted", metadata: ["reason": "\(error)"])
                }
                // SQLite has none and returns at once; PostgreSQL returns when the connection drops.
                if backend.dialect == .sqlite { return }
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }

    private func follow(_ wakes: AsyncStream<Void>) async {
        for await _ in wakes {
            do {
                if store == nil { try await openStore() }
                guard let store else { continue }
                if !reachable || starting { try await store.migrate() }
                let revision = try await store.revision()
                if revision != state.current.directory.revision || !reachable || starting {
                    try await refresh(store)
                }
                if starting {
                    starting = false
                } else if !reachable {
                    reachable = true
                    logger.notice("store reachable again", metadata: ["revision": "\(revision)"])
                }
            } catch {
                if starting {
                    starting = false
                    reachable = false
                    logger.error(
                        "store unreachable: serving from the last applied directory",
                        metadata: [
                            "store": "\(error.location)", "revision": "\(state.current.directory.revision)",
                            "reason": "\(error.message)",
                        ])
                } else if reachable {
                    reachable = false
                    logger.error(
                        "store unreachable: serving from the last applied directory, changes refused",
                        metadata: ["revision": "\(state.current.directory.revision)", "reason": "\(error.message)"])
                }
                // PostgresNIO's pool waits longer after every failed connection (up to a minute);
                // a fresh client tries at once, so the node catches up within a poll of the
                // store's return, and writes through the node work again as soon.
                if let current = store, current.backend.dialect == .postgres {
                    store = nil
                    await current.close()
                }
            }
        }
    }

    private func openStore() async throws(StoreError) {
        guard store == nil else { return }
        store = try await DirectoryStore.open(settings, logger: logger)
    }

    private func refresh(_ store: DirectoryStore) async throws(StoreError) {
        let directory = try await store.snapshot()
        guard directory != state.current.directory else { return }
        state.replaceDirectory(directory)
        logger.info(
            "directory applied",
            metadata: [
                "revision": "\(directory.revision)", "users": "\(directory.usersByURI.count)",
                "databases": "\(directory.databases.count)",
            ])
        do {
            try cache.save(directory)
        } catch {
            logger.warning("cannot keep the last directory", metadata: ["file": "\(cache.path)", "reason": "\(error)"])
        }
    }
}
