import BallastCore
import BallastMail
import BallastReporting
import CBallastLinux
import Logging
import ServiceLifecycle

/// One service the node runs for as long as it needs it: started when made, cancelled and
/// awaited by `stop()`. The node's services are held this way, not in a `ServiceGroup`, because
/// a reload replaces some of them (the store's follower and the site watch, when `store` or
/// `backup` changes) while the others run on, and a group's services are fixed when it starts.
final class OwnedService: Sendable {
    private let task: Task<Void, Never>

    /// Runs `service` now; `name` is what the log calls it should it fail.
    init(_ service: some Service, name: String, logger: Logger) {
        task = Task {
            do {
                try await service.run()
            } catch is CancellationError {
                // Stopped by its owner.
            } catch {
                logger.error("\(name) stopped", metadata: ["reason": "\(error)"])
            }
        }
    }

    /// Cancels the service and waits until it has returned.
    func stop() async {
        task.cancel()
        await task.value
    }
}

/// Every second, the summaries of bad input whose interval ended; every five, memory that
/// connections gave back is returned to the system (glibc keeps freed memory in its arenas,
/// so after a flood of connections the process would stay at its peak).
struct Housekeeping: Service {
    func run() async {
        var tick = 0
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(1))
            BadInputLog.shared.flush()
            tick += 1
            if tick % 5 == 0 { _ = ballast_trim_memory() }
        }
    }
}

/// Closes the logged-in mail sessions of a database whose active copy moved, as the directory
/// changes.
struct MailSessionFollower: Service {
    let sessions: MailSessions
    let state: PublishedState
    let logger: Logger

    func run() async {
        await sessions.follow(state, logger: logger)
    }
}
