public import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The real `ballast` binary, started by a test and stopped by its PID.
public final class BallastProcess {
    /// The binary next to the test bundle: `swift test` builds both into one folder.
    public static var binary: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("ballast")
    }

    /// A fresh directory for one test's files.
    public static func makeDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("ballast-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// What a finished command printed and how it exited.
    public struct Output: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    /// Writes `config` as `ballast.yaml` in `folder` and imports `users` (CSV with a header) into
    /// the store it names with `ballast users import`; returns the config's path, and the import's
    /// output when it failed.
    public static func writeConfig(
        _ config: String, importing users: String, in folder: URL
    ) throws -> (
        path: String, failedImport: Output?
    ) {
        let path = folder.appendingPathComponent("ballast.yaml").path
        try config.write(toFile: path, atomically: true, encoding: .utf8)
        let csv = folder.appendingPathComponent("users.csv").path
        try users.write(toFile: csv, atomically: true, encoding: .utf8)
        let imported = try run(["users", "import", "-c", path, csv])
        return (path, imported.status == 0 ? nil : imported)
    }

    /// Runs `ballast ARGS` to completion (at most `timeout`).
    public static func run(_ arguments: [String], timeout: Duration = .seconds(30)) throws -> Output {
        try run(executable: binary, arguments, timeout: timeout)
    }

    /// Runs a program (curl, say) to completion, killed after `timeout`.
    public static func run(executable: URL, _ arguments: [String], timeout: Duration = .seconds(30)) throws -> Output {
        let directory = try makeDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let out = directory.appendingPathComponent("out")
        let err = directory.appendingPathComponent("err")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let outHandle = try FileHandle(forWritingTo: out)
        let errHandle = try FileHandle(forWritingTo: err)
        // Closed here: the Process object may outlive this call and keep them open.
        defer {
            try? outHandle.close()
            try? errHandle.close()
        }
        process.standardOutput = outHandle
        process.standardError = errHandle
        try process.run()
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline { usleep(10_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        return Output(
            status: process.terminationStatus, stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "")
    }

    public let directory: URL
    public let configPath: String
    private let process: Process
    private let logPath: URL

    /// Starts `ballast run -c CONFIG` with `config` written to a fresh directory.
    public init(config: String) throws {
        directory = try Self.makeDirectory()
        configPath = directory.appendingPathComponent("ballast.yaml").path
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
        logPath = directory.appendingPathComponent("ballast.log")
        _ = FileManager.default.createFile(atPath: logPath.path, contents: nil)
        process = Process()
        process.executableURL = Self.binary
        process.arguments =
            ["run", "-c", configPath, "--threads", "2"]
            + (ProcessInfo.processInfo.environment["BALLAST_TEST_LOG_LEVEL"].map { ["--log-level", $0] } ?? [])
        process.standardOutput = try FileHandle(forWritingTo: logPath)
        process.standardError = try FileHandle(forWritingTo: logPath)
        try process.run()
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: directory)
    }

    /// The process ID.
    public var pid: Int32 { process.processIdentifier }

    /// Whether it still runs.
    public var isRunning: Bool { process.isRunning }

    /// Everything it logged so far.
    public var log: String { (try? String(contentsOf: logPath, encoding: .utf8)) ?? "" }

    /// Replaces the config file (for a reload).
    public func writeConfig(_ text: String) throws {
        try text.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    /// Sends a signal.
    public func signal(_ number: Int32) {
        kill(process.processIdentifier, number)
    }

    /// Waits for it to exit, at most `timeout`; returns its exit status, nil if it still runs.
    public func waitForExit(timeout: Duration) async -> Int32? {
        _ = await eventually(timeout: timeout) { !process.isRunning }
        return process.isRunning ? nil : process.terminationStatus
    }

    /// Stops it: SIGTERM, then SIGKILL after `grace`.
    public func stop(grace: Duration = .seconds(5)) async {
        guard process.isRunning else { return }
        signal(SIGTERM)
        if await waitForExit(timeout: grace) == nil {
            signal(SIGKILL)
            process.waitUntilExit()
        }
    }
}

/// Runs `body` with a `ballast run` of `config`, and stops that process (by its PID) however
/// `body` ends, so that no test leaves a process behind.
public func withBallast<T>(config: String, _ body: (BallastProcess) async throws -> T) async throws -> T {
    try await using(try BallastProcess(config: config), body)
}

extension BallastProcess: TestResource {
    /// Stops the process: SIGTERM, then SIGKILL after the default grace.
    public func tearDown() async { await stop() }
}
