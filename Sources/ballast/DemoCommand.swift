import ArgumentParser
import BallastCodecs
import BallastConfig
import BallastCore
import BallastLab
import BallastStore
import Foundation
import Logging
import NIOCore
import NIOPosix

/// `ballast demo`: the complete two-site lab on loopback, sample servers included, with the
/// dashboard; prints what to try and runs until Ctrl-C.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the two-site demo lab on loopback (web, SIP and IMAP servers at both sites) with the dashboard.")

    @Option(help: "First port of the lab; it uses ports from here to here + 1000.") var basePort = 20000
    @Option(help: "Folder for the lab's config, certificates, store and backups; a new temporary one unless given.")
    var folder: String?
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.") var logLevel: LogLevel = .notice

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel.rawValue) ?? .notice
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "ballast")
        let folder = self.folder ?? NSTemporaryDirectory() + "ballast-demo-\(UUID().uuidString.prefix(6).lowercased())"
        try FileManager.default.createDirectory(atPath: "\(folder)/certs", withIntermediateDirectories: true)
        let token = UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(20).lowercased()
        let lab = DemoLab(basePort: basePort, folder: folder, token: String(token))
        printNow("ballast demo: setting up the lab in \(folder)")
        try SelfSignedCertificates(names: ["webext.contoso.com", "mail.contoso.com", "pool01.contoso.com"]).write(
            into: "\(folder)/certs")
        let configPath = "\(folder)/ballast.yaml"
        try lab.config.write(toFile: configPath, atomically: true, encoding: .utf8)
        let topology: Topology
        do {
            topology = try ConfigLoader.load(path: configPath)
        } catch {
            for problem in error.errors { printError("error: \(problem)") }
            throw ExitCode(1)
        }
        try await Self.seed(topology: topology, logger: logger)
        printNow(
            "  certificates made with swift-certificates, users alice, bob and carol in the directory, a first backup taken"
        )

        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let servers: DemoLab.Servers
        do {
            servers = try await lab.startServers(group: group)
        } catch {
            printError(
                "error: the lab's sample servers cannot listen (\(error)); is another lab on these ports? try --base-port"
            )
            throw ExitCode(1)
        }
        printNow("  sample servers: web-hq1, web-hq2, web-dr1 (HTTP), fe-hq, fe-dr (SIP), EX1, EX3 (IMAP)")
        let binary = CommandLine.arguments.first.map { $0.contains("/") ? $0 : "ballast" } ?? "ballast"
        let instructions = lab.instructions(binary: binary)
        do {
            try await RunCommand.serve(topology: topology, configPath: configPath, threads: 1, logger: logger) {
                printNow(instructions)
            }
        } catch {
            await servers.stop()
            try? await group.shutdownGracefully()
            throw error
        }
        await servers.stop()
        try? await group.shutdownGracefully()
        printNow("ballast demo stopped; the lab's files stay in \(folder)")
    }

    /// Fills the directory with the lab's users and databases (when empty) and takes a backup.
    static func seed(topology: Topology, logger: Logger) async throws {
        guard let settings = topology.store else { return }
        var quiet = logger
        quiet.logLevel = .warning
        let store = try await DirectoryStore.open(settings, logger: quiet)
        try await store.migrate()
        if try await store.snapshot().users.isEmpty {
            var changes = DemoLab.databases.map(DirectoryChange.putDatabase)
            for user in DemoLab.users {
                let password = "\(user.name)-demo"
                let (ha1, aliases) = Digest.credentials(authName: user.name, realm: settings.realm, password: password)
                changes.append(
                    .putUser(
                        DirectoryUser(
                            sipURI: "sip:\(user.name)@contoso.com", authName: user.name, ha1: ha1, ha1Aliases: aliases,
                            homePool: user.home,
                            mail: "\(user.name)@contoso.com", mailboxDatabase: user.database, contacts: user.contacts)))
            }
            try await store.apply(changes, actor: "ballast demo")
        }
        if let backup = topology.backup {
            try await store.backup(into: backup.folder, realm: settings.realm)
        }
        await store.close()
    }
}
