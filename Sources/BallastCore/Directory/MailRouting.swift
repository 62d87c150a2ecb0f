/// Where a logged-in user's session goes: user, then mailbox database, then its active copy's
/// server in the relay's pool. Pure, over one `State`.
public enum MailRouting {
    /// Why a user cannot be routed; each says what the operator should fix.
    public enum Failure: Error, Hashable, Sendable, CustomStringConvertible {
        /// The user has no mailbox database in the directory.
        case noMailbox(user: String)
        /// The user's database is not in the directory.
        case unknownDatabase(user: String, database: String)
        /// The database's active copy is on a server the relay's pool does not have.
        case activeServerNotInPool(database: String, server: String, pool: String)
        /// The active copy's server is down or drained.
        case activeServerUnavailable(database: String, server: ServerKey)

        public var description: String {
            switch self {
            case .noMailbox(let user):
                return "user \(user) has no mailbox database: set `mailbox-database` with `ballast users import`"
            case .unknownDatabase(let user, let database):
                return "user \(user) names mailbox database \(database), which the directory does not have"
            case .activeServerNotInPool(let database, let server, let pool):
                return "the active copy of \(database) is on \(server), which pool \(pool) does not list"
            case .activeServerUnavailable(let database, let server):
                return "the active copy of \(database) is on \(server), which is down or drained"
            }
        }
    }

    /// Where a session goes: the server holding the active copy, and the database it holds.
    public struct Route: Hashable, Sendable {
        /// The server's key in the relay's pool.
        public var key: ServerKey
        /// The server.
        public var server: Server
        /// The user's mailbox database.
        public var database: String
    }

    /// The server holding the active copy of `user`'s mailbox, from `pool`.
    public static func server(for user: DirectoryUser, pool poolName: String, in state: State) -> Result<Route, Failure>
    {
        guard let name = user.mailboxDatabase else { return .failure(.noMailbox(user: user.authName)) }
        guard let database = state.directory.database(named: name) else {
            return .failure(.unknownDatabase(user: user.authName, database: name))
        }
        guard let pool = state.pool(named: poolName), let server = pool.server(named: database.active) else {
            return .failure(.activeServerNotInPool(database: name, server: database.active, pool: poolName))
        }
        let key = ServerKey(pool: poolName, server: server.name)
        if state.isDrained(key) || state.health(of: key)?.status == .down {
            return .failure(.activeServerUnavailable(database: name, server: key))
        }
        return .success(Route(key: key, server: server, database: name))
    }
}
