import ArgumentParser
import BallastConfig
import Foundation

/// `ballast config-reference`: the key tables made from the config reader's declarations, printed,
/// or written over the tables a reference document marks.
struct ConfigReferenceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config-reference",
        abstract: "Print every config key with its default and meaning, as the config reader declares them.",
        discussion: """
            With --update FILE, each table after a `<!-- keys: ID -->` line in FILE is made anew and the \
            rest of FILE is left as it is (docs/configuration.md is kept this way).
            """)

    @Option(name: .customLong("update"), help: "A Markdown file whose marked key tables are rewritten in place.")
    var update: String?

    func run() throws {
        guard let path = update else {
            print(ConfigReference.markdown, terminator: "")
            return
        }
        let document: String
        do {
            document = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            printError("error: \(path): cannot be read (\(error.localizedDescription)); expected a Markdown file")
            throw ExitCode(1)
        }
        let updated: String
        do {
            updated = try ConfigReference.update(document)
        } catch {
            printError("error: \(path): \(error)")
            throw ExitCode(1)
        }
        guard updated != document else {
            print("\(path): every key table is current")
            return
        }
        try updated.write(toFile: path, atomically: true, encoding: .utf8)
        print("\(path): key tables rewritten from the declarations")
    }
}
