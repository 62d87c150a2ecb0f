import ArgumentParser
import BallastConfig
import BallastCore
import BallastStore
import Foundation
import Logging

/// The store a config names, opened and migrated for one command, with errors an operator can act on.
struct StoreAccess {
    let topology: Topology
    let settings: StoreSettings
    let store: DirectoryStore

    /// Loads the config at `path` and opens its store; exits 1 with the reason otherwise.
    static func open(config path: String) async throws -> StoreAccess {
        let (topology, settings) = try loadStoreConfig(path)
        var logger = Logger(label: "ballast")
        logger.logLevel = .warning
        do {
            let store = try await DirectoryStore.open(settings, logger: logger)
            try await store.migrate()
            return StoreAccess(topology: topology, settings: settings, store: store)
        } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
    }

    /// The directory for a command that only reads it: from the store, or, while the store is
    /// unreachable, from the last directory the node applied (its cache file), said to be stale
    /// on standard error. Exits 1 when neither can be read.
    static func readDirectory(config path: String) async throws -> (directory: Directory, settings: StoreSettings) {
        let (_, settings) = try loadStoreConfig(path)
        var logger = Logger(label: "ballast")
        logger.logLevel = .critical
        do throws(StoreError) {
            let store = try await DirectoryStore.open(settings, logger: logger)
            let directory: Directory
            do throws(StoreError) {
                try await store.migrate()
                directory = try await store.snapshot()
            } catch {
                await store.close()
                throw error
            }
            await store.close()
            return (directory, settings)
        } catch {
            guard error.code == .unreachable, let cached = DirectoryCache(path: settings.cacheFile).load() else {
                printError("error: \(error)")
                throw ExitCode(1)
            }
            printError(
                "warning: the store is unreachable (\(error.message)); this is the node's last applied directory, "
                    + "revision \(cached.revision), kept in \(settings.cacheFile): it may be behind the store")
            return (cached, settings)
        }
    }

    /// The config at `path` and its store section; exits 1 with the reason otherwise.
    private static func loadStoreConfig(_ path: String) throws -> (Topology, StoreSettings) {
        let topology: Topology
        do {
            topology = try ConfigLoader.load(path: path)
        } catch {
            for problem in error.errors { printError("error: \(problem)") }
            throw ExitCode(1)
        }
        guard let settings = topology.store else {
            printError(
                "error: \(path): no store section: add `store: {location: ballast.db}` (see docs/configuration.md)")
            throw ExitCode(1)
        }
        return (topology, settings)
    }

    /// Runs `body`, printing a store error and exiting 1 when it fails; closes the store.
    func run<T>(_ body: (DirectoryStore) async throws(StoreError) -> T) async throws -> T {
        let result = try await runKeepingOpen(body)
        await store.close()
        return result
    }

    /// Runs `body` and leaves the store open for more; exits 1 on a store error.
    func runKeepingOpen<T>(_ body: (DirectoryStore) async throws(StoreError) -> T) async throws -> T {
        do {
            return try await body(store)
        } catch {
            await store.close()
            printError("error: \(error)")
            throw ExitCode(1)
        }
    }

    /// Who a command acts as, for the history: `$SUDO_USER` or `$USER` at this host.
    static var actor: String {
        let environment = ProcessInfo.processInfo.environment
        return "cli:" + (environment["SUDO_USER"] ?? environment["USER"] ?? "unknown")
    }
}
