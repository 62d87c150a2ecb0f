import ArgumentParser
import BallastCore
import BallastStore
import Foundation
import NIOHTTP1

/// `ballast db`: mailbox databases and their active copies in the directory.
struct DatabaseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db", abstract: "Mailbox databases, their copies and the active one.",
        subcommands: [ActivateCommand.self, ListCommand.self, AddCommand.self, HistoryCommand.self])

    /// `ballast db activate DB01 --on mbx2`: moves the active copy; through the node, it returns once
    /// the node serves the move (its sessions to the old server closed, new logins on the new one).
    struct ActivateCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "activate", abstract: "Make the copy on SERVER the database's active copy.")

        @OptionGroup var options: ConfigOption
        @Argument(help: "The mailbox database.") var database: String
        @Option(name: .customLong("on"), help: "The server holding the copy to activate.") var server: String
        @Flag(help: "Work on the store directly, not through the running node's admin API.") var direct = false

        func run() async throws {
            if !direct, let api = await NodeAPI.reach(config: options.config) {
                let done = try await api.fields(
                    .POST,
                    "/api/databases/\(NodeAPI.query(database))/activate?on=\(NodeAPI.query(server))&\(NodeAPI.actorQuery)"
                )
                if done["unchanged"] == "true" {
                    print(
                        "\(database): the active copy is already on \(server); nothing changed, through the admin API at \(api.endpoint)"
                    )
                    return
                }
                print(
                    "\(database): active copy \(done["from"] ?? "?") -> \(server) (revision \(done["revision"] ?? "?")), through the admin API at \(api.endpoint)"
                )
                if let warning = done["warning"] { printError("warning: \(warning)") }
                return
            }
            let access = try await StoreAccess.open(config: options.config)
            let (old, revision) = try await access.run { store throws(StoreError) -> (String, UInt64?) in
                let before = try await store.snapshot().database(named: database)?.active ?? "?"
                if before == server { return (before, nil) }
                let revision = try await store.apply(
                    [.activate(database: database, server: server)], actor: StoreAccess.actor)
                return (before, revision)
            }
            guard let revision else {
                print("\(database): the active copy is already on \(server); nothing changed")
                return
            }
            print("\(database): active copy \(old) -> \(server) (revision \(revision))")
            print("note: written straight to the store; running nodes follow within their poll interval")
        }
    }

    /// `ballast db add DB01 --copies mbx1,mbx2 [--active mbx1]`.
    struct AddCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add", abstract: "Add or replace a database with its copies.")

        @OptionGroup var options: ConfigOption
        @Argument(help: "The mailbox database.") var database: String
        @Option(help: "The servers holding a copy, comma-separated.") var copies: String
        @Option(help: "The server holding the active copy; the first copy unless given.") var active: String?
        @Flag(help: "Work on the store directly, not through the running node's admin API.") var direct = false

        func run() async throws {
            let servers = copies.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let first = servers.first else { throw ValidationError("--copies names no server") }
            if !direct, let api = await NodeAPI.reach(config: options.config) {
                var path =
                    "/api/databases/\(NodeAPI.query(database))?copies=\(NodeAPI.query(servers.joined(separator: ",")))"
                if let active { path += "&active=\(NodeAPI.query(active))" }
                let done = try await api.fields(.PUT, path + "&" + NodeAPI.actorQuery)
                print(
                    "\(database): copies \(servers.joined(separator: ", ")), active \(done["active"] ?? "?") (revision \(done["revision"] ?? "?")), through the admin API at \(api.endpoint)"
                )
                return
            }
            let access = try await StoreAccess.open(config: options.config)
            let known = Set(access.topology.pools.flatMap { $0.servers.map(\.name) })
            if let unknown = servers.first(where: { !known.contains($0) }) {
                throw ValidationError("no pool in \(options.config) has a server named \(unknown)")
            }
            let value = MailboxDatabase(name: database, copies: servers, active: active ?? first)
            let revision = try await access.run { store throws(StoreError) in
                try await store.apply([.putDatabase(value)], actor: StoreAccess.actor)
            }
            print(
                "\(database): copies \(servers.joined(separator: ", ")), active \(value.active) (revision \(revision))")
        }
    }

    /// `ballast db list`.
    struct ListCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list", abstract: "List databases and their copies.")

        @OptionGroup var options: ConfigOption

        func run() async throws {
            let (directory, _) = try await StoreAccess.readDirectory(config: options.config)
            for database in directory.allDatabases {
                let users = directory.users.filter { $0.mailboxDatabase == database.name }.count
                let copies = database.copies.map { $0 == database.active ? "\($0) (active)" : $0 }
                print("\(database.name)  \(copies.joined(separator: ", "))  \(counted(users, "user"))")
            }
            print("revision \(directory.revision)")
        }
    }

    /// `ballast db history [SUBJECT]`.
    struct HistoryCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "history", abstract: "Show the directory's changes, newest first.")

        @OptionGroup var options: ConfigOption
        @Argument(help: "Only changes to this user (SIP URI) or database.") var subject: String?
        @Option(help: "How many entries.") var limit = 50

        func run() async throws {
            let access = try await StoreAccess.open(config: options.config)
            let entries = try await access.run { store throws(StoreError) in
                try await store.history(subject: subject, limit: limit)
            }
            for entry in entries {
                print(
                    "\(entry.at)  r\(entry.revision)  \(entry.actor)  \(entry.action)  \(entry.subject)  \(entry.detail)"
                )
            }
        }
    }
}
