public import BallastCore
public import Logging
import Synchronization

/// The logged-in mail sessions of a node, by the user, database and server each was routed to.
/// When a database's active copy moves, or a user moves to another database (or leaves the
/// directory), every session that no longer goes where a new login would is closed, so that the
/// client logs in again and lands on the right server.
public final class MailSessions: Sendable {
    private struct Entry: Sendable {
        var user: String
        var database: String
        var server: ServerKey
        var dialect: MailDialect
        /// Tells the client its mailbox moved and closes the session, on the session's own loop.
        var kick: @Sendable () -> Void
    }

    private let entries = Mutex<[Int: Entry]>([:])
    private let nextID = Atomic<Int>(1)

    /// An empty registry.
    public init() {}

    /// Sessions open now.
    public var count: Int { entries.withLock { $0.count } }

    /// Adds a session; its connection removes it (`remove`) when it closes.
    func add(
        user: String, database: String, server: ServerKey, dialect: MailDialect, kick: @escaping @Sendable () -> Void
    ) -> Int {
        let id = nextID.wrappingAdd(1, ordering: .relaxed).oldValue
        entries.withLock {
            $0[id] = Entry(user: user, database: database, server: server, dialect: dialect, kick: kick)
        }
        return id
    }

    /// Forgets a session that closed.
    func remove(_ id: Int) {
        _ = entries.withLock { $0.removeValue(forKey: id) }
    }

    /// Closes the sessions whose user is gone or on another database, or whose server no longer
    /// holds their database's active copy; returns how many. Each client is told first, as
    /// Dovecot's proxy does when it kicks a session: an untagged BYE (IMAP) or an -ERR line
    /// (POP3) with the reason, then the close.
    @discardableResult
    public func closeMoved(in state: State, logger: Logger) -> Int {
        let moved = entries.withLock { entries in
            entries.values.filter { entry in
                state.directory.user(sipURI: entry.user)?.mailboxDatabase != entry.database
                    || state.directory.database(named: entry.database)?.active != entry.server.server
            }
        }
        for entry in moved { entry.kick() }
        if !moved.isEmpty {
            logger.notice(
                "mail sessions closed: their database's active copy or their user moved",
                metadata: ["sessions": "\(moved.count)", "databases": "\(Set(moved.map(\.database)).sorted())"])
        }
        return moved.count
    }

    /// Follows the `published` state and closes moved sessions on every directory change, until cancelled.
    public func follow(_ published: PublishedState, logger: Logger) async {
        var revision = published.current.directory.revision
        for await state in published.updates() {
            guard state.directory.revision != revision else { continue }
            revision = state.directory.revision
            closeMoved(in: state, logger: logger)
        }
    }
}
