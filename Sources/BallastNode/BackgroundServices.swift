import BallastCore
import BallastMail
import BallastReporting
import CBallastLinux
import Logging
import ServiceLifecycle

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
