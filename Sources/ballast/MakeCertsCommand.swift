import ArgumentParser
import BallastLab
import Foundation

/// `ballast make-certs`: a throwaway CA and the certificates the example configs name, so that
/// a fresh clone can check and run every example. Never for production: the CA's key is not
/// kept, and the names are the examples' contoso.com ones.
struct MakeCertsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "make-certs",
        abstract: "Make a throwaway CA and the certificates the examples name (ca.pem, webext.pem/.key, sip.pem/.key).",
        discussion:
            "For trying the examples: `ballast make-certs examples/certs`, then `ballast check -c examples/...`.")

    @Argument(help: "The folder to write into; the examples look in examples/certs.") var folder = "examples/certs"
    @Option(help: "Days the certificates stay valid.") var days = 365

    func validate() throws {
        guard (1...3650).contains(days) else { throw ValidationError("--days must be 1 to 3650, not \(days)") }
    }

    func run() throws {
        do {
            for path in try SelfSignedCertificates.writeExamples(into: folder, days: days) { print("wrote \(path)") }
        } catch {
            throw ValidationError(
                "cannot write certificates into \(folder): \(error.localizedDescription); choose a folder you can write to"
            )
        }
    }
}
