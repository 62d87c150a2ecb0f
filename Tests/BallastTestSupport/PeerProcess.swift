public import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A real peer program (NSD, say) started for a test and stopped by its PID.
///
/// The test runner's threads block most signals and a spawned program inherits that mask,
/// so a peer would never see SIGTERM: it is started through a Python shim that clears the
/// mask and then becomes the peer (exec), keeping the PID.
public final class PeerProcess {
    private let process = Process()
    private let stopSignal: Int32
    /// Clears the signal mask, becomes `user` when one is named (root only), then execs the peer.
    private static let shim = """
        import os, pwd, signal, sys
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        if sys.argv[1] and os.getuid() == 0:
            entry = pwd.getpwnam(sys.argv[1]); os.setgid(entry.pw_gid); os.setuid(entry.pw_uid)
        os.execv(sys.argv[2], sys.argv[2:])
        """

    /// Starts `executable` with `arguments`, its output discarded unless `output` names a file to
    /// keep it in; as `user` when the tests run as root and the peer refuses root (PostgreSQL).
    /// `stopSignal` is what asks it to stop quickly.
    public init(
        _ executable: String, _ arguments: [String], user: String? = nil, stopSignal: Int32 = SIGTERM,
        environment: [String: String] = [:], output: URL? = nil
    ) throws {
        self.stopSignal = stopSignal
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        }
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-c", Self.shim, user ?? "", executable] + arguments
        if let output, FileManager.default.createFile(atPath: output.path, contents: nil),
            let handle = try? FileHandle(forWritingTo: output)
        {
            process.standardOutput = handle
            process.standardError = handle
        } else {
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
        }
        try process.run()
    }

    /// Runs `executable` to its end, as `user` when named, and returns its exit status.
    @discardableResult
    public static func run(_ executable: String, _ arguments: [String], user: String? = nil) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-c", shim, user ?? "", executable] + arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// The process ID.
    public var pid: Int32 { process.processIdentifier }

    /// Whether it still runs.
    public var isRunning: Bool { process.isRunning }

    /// How it ended, for a failure message: its exit status or the signal that ended it; nil while it runs.
    public var ending: String? {
        guard !process.isRunning else { return nil }
        return process.terminationReason == .uncaughtSignal
            ? "killed by signal \(process.terminationStatus)" : "exit status \(process.terminationStatus)"
    }

    /// Kills it at once (SIGKILL), as a crash would, and waits for it.
    public func crash() {
        guard process.isRunning else { return }
        kill(pid, SIGKILL)
        process.waitUntilExit()
    }

    /// The stop signal (SIGTERM unless chosen), so that the peer stops its own children, then
    /// SIGKILL after five seconds.
    public func stop() {
        guard process.isRunning else { return }
        kill(pid, stopSignal)
        let deadline = ContinuousClock.now + .seconds(5)
        while process.isRunning && ContinuousClock.now < deadline { usleep(20_000) }
        if process.isRunning {
            kill(pid, SIGKILL)
            process.waitUntilExit()
        }
    }

    deinit { stop() }
}
