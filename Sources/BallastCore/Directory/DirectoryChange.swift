/// One write to the directory, as a value: the store applies a list of them in one transaction
/// and records each in the history.
public enum DirectoryChange: Hashable, Sendable {
    /// Adds the user, or replaces the one with the same SIP URI.
    case putUser(DirectoryUser)
    /// Removes the user with this SIP URI.
    case removeUser(sipURI: String)
    /// Adds the database with its copies, or replaces the one with the same name.
    case putDatabase(MailboxDatabase)
    /// Removes the database and its copies.
    case removeDatabase(name: String)
    /// Makes the copy on `server` the database's active one.
    case activate(database: String, server: String)
    /// Moves the user's home to `pool`.
    case setHome(sipURI: String, pool: String?)
    /// Moves the user's home from `from` to `to` only while it is still `from`, checked in the
    /// transaction that moves it: a plan's move, which an operator's own move of the same user
    /// wins over (the plan then leaves the user where the operator put them, and records nothing).
    case moveHome(sipURI: String, from: String, to: String)
    /// Replaces the user's contact list.
    case setContacts(sipURI: String, contacts: [String])
    /// Fences a site: its pools take no traffic and leave DNS answers until unfenced.
    case fenceSite(String)
    /// Lifts a site's fence.
    case unfenceSite(String)

    /// The history's name for the change.
    public var action: String {
        switch self {
        case .putUser: return "user.put"
        case .removeUser: return "user.remove"
        case .putDatabase: return "database.put"
        case .removeDatabase: return "database.remove"
        case .activate: return "database.activate"
        case .setHome, .moveHome: return "user.home"
        case .setContacts: return "user.contacts"
        case .fenceSite: return "site.fence"
        case .unfenceSite: return "site.unfence"
        }
    }

    /// What the change is about: a user's SIP URI or a database's name.
    public var subject: String {
        switch self {
        case .putUser(let user): return user.sipURI
        case .removeUser(let uri), .setHome(let uri, _), .setContacts(let uri, _), .moveHome(let uri, _, _): return uri
        case .putDatabase(let database): return database.name
        case .removeDatabase(let name), .activate(let name, _): return name
        case .fenceSite(let site), .unfenceSite(let site): return site
        }
    }

    /// What changed, in words fit for the history; never credentials.
    public var detail: String {
        switch self {
        case .putUser(let user):
            var parts = ["auth-name=\(user.authName)"]
            if let home = user.homePool { parts.append("home=\(home)") }
            if let mail = user.mail { parts.append("mail=\(mail)") }
            if let database = user.mailboxDatabase { parts.append("mailbox-database=\(database)") }
            parts.append("contacts=\(user.contacts.count)")
            return parts.joined(separator: " ")
        case .removeUser, .removeDatabase: return ""
        case .fenceSite: return "fenced"
        case .unfenceSite: return "unfenced"
        case .putDatabase(let database):
            return "copies=\(database.copies.joined(separator: ",")) active=\(database.active)"
        case .activate(_, let server): return "active=\(server)"
        case .setHome(_, let pool): return "home=\(pool ?? "-")"
        case .moveHome(_, let from, let to): return "home=\(to) (from \(from))"
        case .setContacts(_, let contacts): return "contacts=\(contacts.count)"
        }
    }
}

/// One recorded change: who made it, when, and what.
public struct HistoryEntry: Hashable, Sendable, Codable {
    /// The directory revision the change produced.
    public var revision: UInt64
    /// When, as an ISO 8601 UTC timestamp.
    public var at: String
    /// Who: an operator, a command or a node.
    public var actor: String
    /// The change's name, `database.activate`.
    public var action: String
    /// The user or database changed.
    public var subject: String
    /// What changed, in words.
    public var detail: String

    /// A history entry.
    public init(revision: UInt64, at: String, actor: String, action: String, subject: String, detail: String) {
        self.revision = revision
        self.at = at
        self.actor = actor
        self.action = action
        self.subject = subject
        self.detail = detail
    }
}
