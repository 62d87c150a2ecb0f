public import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// `ballast demo` run as a user would, on ports from a random base. A base whose ports another
/// program holds makes the demo exit at once; another base is then tried, three in all. Bases
/// lie below the kernel's ephemeral range (from 32768), where no outgoing connection of another
/// test takes a port the lab needs.
public final class DemoProcess {
    /// The lab's folder (config, certificates, state); removed at the end.
    public let folder: URL
    /// The base port: the admin API listens on it, every other listener on an offset from it.
    public let base: Int
    private let process: PeerProcess

    /// The demo did not come up on any base tried.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Starts the demo and waits until `ready(base)` holds (bounded by `timeout` per try). Throws
    /// with the demo's own output when no base worked.
    public init(
        bases: Range<Int>, timeout: Duration = .seconds(30), ready: (_ base: Int) async -> Bool
    ) async throws {
        precondition(bases.upperBound + 1000 <= 32768, "demo bases must stay below the ephemeral port range")
        var output = ""
        for _ in 0..<3 {
            let folder = try BallastProcess.makeDirectory()
            let base = bases.lowerBound + Int.random(in: 0..<max(1, (bases.count / 1000))) * 1000
            let log = folder.appendingPathComponent("demo.log")
            let process = try PeerProcess(
                BallastProcess.binary.path, ["demo", "--base-port", "\(base)", "--folder", folder.path],
                stopSignal: SIGINT,
                output: log)
            let up = await eventually(timeout: timeout, every: .milliseconds(200)) {
                guard process.isRunning else { return true }
                return await ready(base)
            }
            if up && process.isRunning {
                (self.folder, self.base, self.process) = (folder, base, process)
                return
            }
            let ending =
                process.ending.map { "the demo ended (\($0)) on base \(base)" }
                ?? "the demo was not ready on base \(base)"
            process.stop()
            output = ending + "\n" + ((try? String(contentsOf: log, encoding: .utf8)) ?? "")
            try? FileManager.default.removeItem(at: folder)
        }
        throw Failure(description: "the demo lab did not come up; its last output:\n\(output.suffix(4000))")
    }

    /// Whether the demo still runs.
    public var isRunning: Bool { process.isRunning }

    /// Stops the demo (SIGINT, as Ctrl-C) and removes its folder.
    public func stop() {
        process.stop()
        try? FileManager.default.removeItem(at: folder)
    }

    deinit { stop() }
}
