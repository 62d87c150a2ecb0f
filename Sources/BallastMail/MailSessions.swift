public import BallastCore
public import Logging
import NIOCore
import Synchronization

/// The logged-in mail sessions of a node, by the user, database and server each was routed to.
/// When a database's active copy moves, or a user moves to another database (or leaves the
/// directory), every session that no longer goes where a new login would is closed, so that the
/// client logs in again and lands on the right server.
public final class MailSessions: Sendable {
    private struct Entry {
        var user: String
        var database: String
        var server: ServerKey
        var dialect: MailDialect
        var client: any Channel
        var backend: any Channel
    }

    private let entries = Mutex<[ObjectIdentifier: Entry]>([:])

    /// An empty registry.
    public init() {}

    /// Sessions open now.
    public var count: Int { entries.withLock { $0.count } }

    /// Whether `client` is the client channel of a logged-in session.
    func contains(client: any Channel) -> Bool {
        entries.withLock { $0[ObjectIdentifier(client)] != nil }
    }

    /// Adds a session; it leaves by itself when the client's channel closes.
    func add(
        user: String, database: String, server: ServerKey, dialect: MailDialect, client: any Channel,
        backend: any Channel
    ) {
        let id = ObjectIdentifier(client)
        entries.withLock {
            $0[id] = Entry(
                user: user, database: database, server: server, dialect: dialect, client: client, backend: backend)
        }
        client.closeFuture.whenComplete { [self] _ in
            _ = entries.withLock { $0.removeValue(forKey: id) }
            backend.close(promise: nil)
        }
    }

    /// Closes the sessions whose user is gone or on another database, or whose server no longer
    /// holds their database's active copy; returns how many.
    @discardableResult
    public func closeMoved(in state: State, logger: Logger) -> Int {
        let moved = entries.withLock { entries in
            entries.filter { _, entry in
                state.directory.user(sipURI: entry.user)?.mailboxDatabase != entry.database
                    || state.directory.database(named: entry.database)?.active != entry.server.server
            }.map(\.value)
        }
        for entry in moved {
            // Told first, as Dovecot's proxy does when it kicks a session: an untagged BYE (IMAP)
            // or an -ERR line (POP3) with the reason, then the close. The server's side closes
            // after the line is out: its close would otherwise close the client's first.
            let line =
                entry.dialect == .imap
                ? "* BYE [UNAVAILABLE] Your mailbox moved to another server; log in again.\r\n"
                : "-ERR [SYS/TEMP] Your mailbox moved to another server; log in again.\r\n"
            let (client, backend) = (entry.client, entry.backend)
            client.writeAndFlush(ByteBuffer(string: line)).whenComplete { _ in
                client.close(promise: nil)
                backend.close(promise: nil)
            }
        }
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
