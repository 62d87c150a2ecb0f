public import ArgumentParser
import BallastCodecs
import BallastConfig
import BallastCore
import BallastStore
import Foundation
import NIOHTTP1

/// `ballast users`: users in the store, and the HA1 values a users file holds.
struct UsersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "users", abstract: "Work with users.",
        subcommands: [ImportCommand.self, ExportCommand.self, HA1Command.self])
}

/// `ballast users ha1 --user alice --realm lab.example`: reads a password from standard input
/// and prints the HA1 lines for the users file, so that no password is ever stored.
struct HA1Command: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ha1",
        abstract: "Print ha1-md5 and ha1-sha256 for a users file; the password is read from standard input.")

    @Option(help: "The digest username (the user part of the SIP URI unless the file sets auth-name).")
    var user: String

    @Option(help: "The realm, equal to sip.realm in the config.")
    var realm: String

    func run() throws {
        guard let password = readLine(strippingNewline: true), !password.isEmpty else {
            throw ValidationError("no password on standard input: echo the password into this command")
        }
        for algorithm in DigestAlgorithm.allCases {
            let key = algorithm == .md5 ? "ha1-md5" : "ha1-sha256"
            print("\(key): \(Digest.ha1(username: user, realm: realm, password: password, algorithm: algorithm))")
        }
    }
}

/// `ballast users import FILE`: adds or replaces users (and, from JSON, databases) in one
/// transaction; nothing is written when a row has an error, and every bad row is named.
struct ImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import", abstract: "Import users from CSV or JSON into the store; all rows or none.")

    @OptionGroup var options: ConfigOption
    @Argument(help: "The file: .json for JSON, anything else CSV with a header row.") var file: String
    @Option(help: "csv or json; from the file name unless given.") var format: UserImport.Format?
    @Flag(help: "Work on the store directly, not through the running node's admin API.") var direct = false

    func run() async throws {
        let text: String
        do {
            text = try ConfigLoader.read(file, expected: "a readable CSV or JSON file of users")
        } catch {
            for problem in error.errors { printError("error: \(problem)") }
            throw ExitCode(1)
        }
        let format = format ?? UserImport.Format(path: file)
        if !direct, let api = await NodeAPI.reach(config: options.config) {
            let started = ContinuousClock.now
            let path = "/api/users/import?format=\(format.rawValue)&file=\(NodeAPI.query(file))&\(NodeAPI.actorQuery)"
            let done = try await api.fields(.POST, path, body: text)
            let elapsed = (ContinuousClock.now - started).formatted(
                .units(allowed: [.seconds, .milliseconds], width: .abbreviated))
            print(
                "\(file): \(counted(done["users"], "user")), \(counted(done["databases"], "database")) imported (revision \(done["revision"] ?? "?"), \(elapsed)), through the admin API at \(api.endpoint)"
            )
            if let warning = done["warning"] { printError("warning: \(warning)") }
            return
        }
        let access = try await StoreAccess.open(config: options.config)
        let existing = try await access.runKeepingOpen { store throws(StoreError) in try await store.snapshot() }
        let parsed: UserImport
        do {
            parsed = try UserImport.parse(
                text, format: format, file: file, realm: access.settings.realm,
                topology: access.topology, knownDatabases: Set(existing.databases.keys))
        } catch {
            for problem in error.errors { printError("error: \(problem)") }
            printError("\(file): \(error.errors.count) error(s); nothing was imported")
            await access.store.close()
            throw ExitCode(1)
        }
        let changes = parsed.databases.map(DirectoryChange.putDatabase) + parsed.users.map(DirectoryChange.putUser)
        let started = ContinuousClock.now
        // All rows or none: one transaction, with progress shown for large files (nothing is
        // committed until the last row is written).
        let total = changes.count
        let revision = try await access.runKeepingOpen { directory throws(StoreError) in
            try await directory.apply(changes, actor: StoreAccess.actor) { done in
                printError("writing \(done)/\(total) rows (committed together at the end)")
            }
        }
        await access.store.close()
        let elapsed = ContinuousClock.now - started
        print(
            "\(file): \(counted(parsed.users.count, "user")), \(counted(parsed.databases.count, "database")) imported (revision \(revision), \(elapsed.formatted(.units(allowed: [.seconds, .milliseconds], width: .abbreviated))))"
        )
    }
}

/// `ballast users export`: the directory's users (and, in JSON, databases), HA1 values only.
struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "Export users as JSON (with databases) or CSV, to standard output.")

    @OptionGroup var options: ConfigOption
    @Option(help: "json or csv.") var format: UserImport.Format = .json

    func run() async throws {
        // A read: answered from the node's last directory while the store is down, said so.
        let (directory, settings) = try await StoreAccess.readDirectory(config: options.config)
        switch format {
        case .json: print(UserImport.exportJSON(directory, realm: settings.realm), terminator: "")
        case .csv: print(UserImport.exportCSV(directory), terminator: "")
        }
    }
}

extension UserImport.Format: ExpressibleByArgument {}
