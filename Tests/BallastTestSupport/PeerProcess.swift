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
    private static let shim = "import os, signal, sys; signal.pthread_sigmask(signal.SIG_SETMASK, []); os.execv(sys.argv[1], sys.argv[1:])"

    /// Starts `executable` with `arguments`, its output discarded.
    public init(_ executable: String, _ arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-c", Self.shim, executable] + arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    /// The process ID.
    public var pid: Int32 { process.processIdentifier }

    /// SIGTERM, so that the peer stops its own children, then SIGKILL after five seconds.
    public func stop() {
        guard process.isRunning else { return }
        kill(pid, SIGTERM)
        let deadline = ContinuousClock.now + .seconds(5)
        while process.isRunning && ContinuousClock.now < deadline { usleep(20_000) }
        if process.isRunning {
            kill(pid, SIGKILL)
            process.waitUntilExit()
        }
    }

    deinit { stop() }
}
