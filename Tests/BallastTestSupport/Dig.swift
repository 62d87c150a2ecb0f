import Foundation

/// dig, the DNS client tests query Ballast (or NSD) with.
public enum Dig {
    /// What dig reports when no answer came: a timeout or a refused connection, not a DNS answer.
    public struct NoAnswer: Error, CustomStringConvertible {
        public var output: String
        public var description: String { "dig got no answer: \(output)" }
    }

    /// The `+short` answer lines for NAME TYPE, sorted. A query that got no answer is asked again
    /// (up to three tries of one second each), then throws, so an empty list always means an
    /// answer with no records and never a lost datagram on a busy machine.
    public static func short(port: Int, _ name: String, _ type: String, _ more: [String] = []) throws -> [String] {
        let arguments =
            ["@127.0.0.1", "-p", "\(port)", "+norecurse", "+short", "+time=1", "+tries=3"] + more + [name, type]
        let output = try BallastProcess.run(
            executable: URL(fileURLWithPath: "/usr/bin/dig"), arguments, timeout: .seconds(10))
        let lines = output.stdout.split(separator: "\n").map(String.init)
        if output.status != 0 || lines.contains(where: { $0.hasPrefix(";;") }) {
            throw NoAnswer(output: (output.stdout + output.stderr).trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return lines.sorted()
    }
}
