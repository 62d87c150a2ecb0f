import ArgumentParser
import BallastCodecs
import BallastCore

/// `ballast users`: work on users; for now, the HA1 values a users file holds.
struct UsersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "users", abstract: "Work with users.", subcommands: [HA1Command.self])
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
