import ArgumentParser
import BallastConfig
import BallastCore
import BallastStore
import Foundation
import NIOHTTP1

/// `ballast backup`: a consistent snapshot of the directory (users, contact lists, databases)
/// into the config's backup folder, through the running node; or `--to FOLDER`, which this
/// command writes itself from the store (a node never writes where a request names).
struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup", abstract: "Write a consistent backup of the directory to a file.")

    @OptionGroup var options: ConfigOption
    @Option(help: "The folder for the file; the config's backup.folder unless given.") var to: String?
    @Flag(help: "Work on the store directly, not through the running node's admin API.") var direct = false

    func run() async throws {
        if !direct, to == nil, let api = await NodeAPI.reach(config: options.config) {
            let done = try await api.fields(.POST, "/api/backup")
            print(
                "\(done["file"] ?? "?"): \(counted(done["users"], "user")), \(counted(done["databases"], "database")), revision \(done["revision"] ?? "?"), through the admin API at \(api.endpoint)"
            )
            return
        }
        let access = try await StoreAccess.open(config: options.config)
        guard let folder = to ?? access.topology.backup?.folder else {
            await access.store.close()
            throw ValidationError("no folder: give --to FOLDER, or add backup: {folder: ...} to \(options.config)")
        }
        let started = ContinuousClock.now
        do {
            let (path, backup) = try await access.store.backup(into: folder, realm: access.settings.realm)
            await access.store.close()
            print(
                "\(path): \(counted(backup.directory.usersByURI.count, "user")), \(counted(backup.directory.databases.count, "database")), revision \(backup.directory.revision) (\((ContinuousClock.now - started).formatted(.units(allowed: [.seconds, .milliseconds], width: .abbreviated))))"
            )
        } catch {
            await access.store.close()
            printError("error: backup failed: \(error)")
            throw ExitCode(1)
        }
    }
}

/// `ballast restore FILE`: makes the store hold exactly what the backup holds, in one
/// transaction recorded in the history; a corrupt or foreign file is refused before anything changes.
struct RestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Restore the directory from a backup file (the newest in the backup folder with --latest).")

    @OptionGroup var options: ConfigOption
    @Argument(help: "The backup file.") var file: String?
    @Flag(help: "Take the newest file in the config's backup folder.") var latest = false
    @Flag(help: "Work on the store directly, not through the running node's admin API.") var direct = false

    func run() async throws {
        if !direct, let api = await NodeAPI.reach(config: options.config) {
            guard latest || file != nil else { throw ValidationError("name a backup file, or --latest") }
            let done: [String: String]
            if let file {
                // A file of the node's backup folder is named; any other is sent to the node.
                let absolute = URL(fileURLWithPath: file).standardizedFileURL
                let folder = (try? ConfigLoader.load(path: options.config))?.backup.map {
                    URL(fileURLWithPath: $0.folder, isDirectory: true).standardizedFileURL.path
                }
                if absolute.deletingLastPathComponent().path == folder {
                    done = try await api.fields(.POST, "/api/restore?file=\(NodeAPI.query(absolute.lastPathComponent))")
                } else {
                    guard let bytes = FileManager.default.contents(atPath: absolute.path) else {
                        printError("error: \(file) cannot be read; check the path and its permissions")
                        throw ExitCode(1)
                    }
                    done = try await api.fields(.POST, "/api/restore", bytes: Array(bytes))
                }
            } else {
                done = try await api.fields(.POST, "/api/restore?latest=true")
            }
            print(
                "\(file ?? done["file"] ?? "?"): restored \(counted(done["users"], "user")) and \(counted(done["databases"], "database")) (store now at revision \(done["revision"] ?? "?")), through the admin API at \(api.endpoint)"
            )
            return
        }
        let access = try await StoreAccess.open(config: options.config)
        var path = file
        if latest, let folder = access.topology.backup?.folder { path = DirectoryBackup.files(in: folder).first }
        guard let path else {
            await access.store.close()
            throw ValidationError("name a backup file, or --latest with backup.folder in \(options.config)")
        }
        guard FileManager.default.isReadableFile(atPath: path) else {
            await access.store.close()
            printError("error: \(path) cannot be read; check the path and its permissions")
            throw ExitCode(1)
        }
        let backup: DirectoryBackup
        do {
            backup = try await DirectoryBackup.load(path: path, expectedRealm: access.settings.realm)
        } catch {
            await access.store.close()
            printError("error: \(path) \(error.description); nothing was restored")
            throw ExitCode(1)
        }
        let revision = try await access.run { store throws(StoreError) in
            try await store.restore(backup, actor: StoreAccess.actor)
        }
        print(
            "\(path): restored \(counted(backup.directory.usersByURI.count, "user")) and \(counted(backup.directory.databases.count, "database")) of revision \(backup.directory.revision) (store now at revision \(revision))"
        )
    }
}
