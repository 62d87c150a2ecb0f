import ArgumentParser
import BallastCore

/// The `ballast` command.
@main
struct Ballast: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A resilient front door for communication and mail services.",
        discussion: """
            Ballast relays TCP to pools of servers in several sites, follows their health,
            and drains, reloads and fails over without dropping what it carries.
            """,
        version: BallastVersion.current,
        subcommands: [
            RunCommand.self, CheckCommand.self, StatusCommand.self, DrainCommand.self, UndrainCommand.self,
            SampleServerCommand.self, UsersCommand.self, DatabaseCommand.self, BackupCommand.self,
            RestoreCommand.self, PlanCommand.self, ApplyCommand.self, FailbackCommand.self, DemoCommand.self,
            WitnessCommand.self, MakeCertsCommand.self, ConfigReferenceCommand.self,
        ]
    )
}

/// Options every command that reads a config shares.
struct ConfigOption: ParsableArguments {
    @Option(name: [.short, .customLong("config")], help: "The config file.")
    var config: String = "ballast.yaml"
}
