/// A user as the directory knows them: identity, digest credentials, home pool and mailbox.
public struct DirectoryUser: Hashable, Sendable, Codable {
    /// The SIP address of record, `sip:alice@example.com`, lowercased host.
    public var sipURI: String
    /// The name the user authenticates with (digest `username`): the URI's user part unless set.
    public var authName: String
    /// HA1 = H(username:realm:password) per algorithm, lowercase hex; never the password.
    public var ha1: [DigestAlgorithm: String]
    /// HA1 values for other spellings of the digest username, by that spelling: `alice@realm`
    /// (Kamailio's ha1b) and `alice@` (what sipsak sends unless told a username). Computed when the
    /// directory was given a password; empty when it was given HA1 values only.
    public var ha1Aliases: [String: [DigestAlgorithm: String]]
    /// The pool whose registrar is the user's home.
    public var homePool: String?
    /// The user's mail address, lowercased, when known; mail clients may log in with it.
    public var mail: String?
    /// The mailbox database holding the user's mailbox.
    public var mailboxDatabase: String?
    /// User data kept with the user: the contact list, as SIP URIs or mail addresses.
    public var contacts: [String]

    /// A user.
    public init(
        sipURI: String, authName: String, ha1: [DigestAlgorithm: String],
        ha1Aliases: [String: [DigestAlgorithm: String]] = [:],
        homePool: String?, mail: String? = nil, mailboxDatabase: String? = nil, contacts: [String] = []
    ) {
        self.sipURI = sipURI
        self.authName = authName
        self.ha1 = ha1
        self.ha1Aliases = ha1Aliases
        self.homePool = homePool
        self.mail = mail
        self.mailboxDatabase = mailboxDatabase
        self.contacts = contacts
    }

    /// `ha1Aliases` as text: `spelling ALGORITHM hex` entries joined by `separator` (neither part
    /// holds a space, a line break or a semicolon): how the store and import files keep them.
    public func encodedAliases(separator: String) -> String {
        ha1Aliases.sorted { $0.key < $1.key }.flatMap { alias, values in
            values.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\(alias) \($0.key.rawValue) \($0.value)" }
        }.joined(separator: separator)
    }

    /// Reads `encodedAliases`; nil when an entry is not `spelling ALGORITHM hex`.
    public static func decodeAliases(_ text: String, separator: Character) -> [String: [DigestAlgorithm: String]]? {
        var out: [String: [DigestAlgorithm: String]] = [:]
        for entry in text.split(separator: separator) {
            let parts = entry.split(separator: " ", omittingEmptySubsequences: true)
            guard parts.count == 3, let algorithm = DigestAlgorithm(headerValue: String(parts[1])),
                parts[2].count == (algorithm == .md5 ? 32 : 64), parts[2].allSatisfy(\.isHexDigit)
            else { return nil }
            out[String(parts[0]), default: [:]][algorithm] = parts[2].lowercased()
        }
        return out
    }

    private enum CodingKeys: String, CodingKey {
        case sipURI, authName, ha1, ha1Aliases, homePool, mail, mailboxDatabase, contacts
    }

    /// Reads a user as written by any version: `ha1Aliases` came later.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        sipURI = try container.decode(String.self, forKey: .sipURI)
        authName = try container.decode(String.self, forKey: .authName)
        ha1 = try container.decode([DigestAlgorithm: String].self, forKey: .ha1)
        ha1Aliases = try container.decodeIfPresent([String: [DigestAlgorithm: String]].self, forKey: .ha1Aliases) ?? [:]
        homePool = try container.decodeIfPresent(String.self, forKey: .homePool)
        mail = try container.decodeIfPresent(String.self, forKey: .mail)
        mailboxDatabase = try container.decodeIfPresent(String.self, forKey: .mailboxDatabase)
        contacts = try container.decodeIfPresent([String].self, forKey: .contacts) ?? []
    }
}

/// A mailbox database with its copies on servers, one of them active (an Exchange DAG database).
public struct MailboxDatabase: Hashable, Sendable, Codable {
    /// The database's name, `DB01`.
    public var name: String
    /// The servers holding a copy, by server name.
    public var copies: [String]
    /// The server holding the active copy; one of `copies`.
    public var active: String

    /// A database whose active copy is on `active`.
    public init(name: String, copies: [String], active: String) {
        self.name = name
        self.copies = copies
        self.active = active
    }
}

/// The users, homes and placements Ballast decides with, read from the store (or a users file)
/// and published as part of each `State`.
public struct Directory: Hashable, Sendable {
    /// Users by address of record.
    public private(set) var usersByURI: [String: DirectoryUser]
    /// Users by digest username.
    public private(set) var usersByAuthName: [String: DirectoryUser]
    /// Users by mail address.
    public private(set) var usersByMail: [String: DirectoryUser]
    /// Mailbox databases by name.
    public private(set) var databases: [String: MailboxDatabase]
    /// Sites fenced by a failover plan: their pools take no traffic and leave DNS answers,
    /// whatever their health says, until a failback unfences them. Each with when it changed.
    public var fencedSites: [String: String]
    /// When each site's fence last changed (fenced or unfenced), ISO 8601, for hold-down.
    public var siteChanges: [String: String]
    /// Increases with every change the source reports.
    public var revision: UInt64

    /// A directory of these users and databases; the first of a repeated URI, auth name or mail wins.
    public init(
        users: [DirectoryUser] = [], databases: [MailboxDatabase] = [], fencedSites: [String: String] = [:],
        siteChanges: [String: String] = [:], revision: UInt64 = 0
    ) {
        self.fencedSites = fencedSites
        self.siteChanges = siteChanges
        var byURI: [String: DirectoryUser] = [:]
        var byAuth: [String: DirectoryUser] = [:]
        var byMail: [String: DirectoryUser] = [:]
        for user in users where byURI[user.sipURI] == nil && byAuth[user.authName] == nil {
            if let mail = user.mail {
                guard byMail[mail] == nil else { continue }
                byMail[mail] = user
            }
            byURI[user.sipURI] = user
            byAuth[user.authName] = user
        }
        self.usersByURI = byURI
        self.usersByAuthName = byAuth
        self.usersByMail = byMail
        self.databases = Dictionary(databases.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        self.revision = revision
    }

    /// The user a mail or web client names at login: a mail address, an auth name or a SIP URI.
    public func user(login: String) -> DirectoryUser? {
        let name = login.lowercased()
        if let user = usersByMail[name] ?? usersByAuthName[login] ?? usersByAuthName[name] { return user }
        if let aor = UserAddress.addressOfRecord(name.hasPrefix("sip:") ? name : "sip:" + name) {
            return usersByURI[aor.aor]
        }
        return nil
    }

    /// Whether a failover plan fenced `site`.
    public func isFenced(site: String?) -> Bool { site.map { fencedSites[$0] != nil } ?? false }

    /// The mailbox database with this name.
    public func database(named name: String) -> MailboxDatabase? { databases[name] }

    /// Every database, ordered by name.
    public var allDatabases: [MailboxDatabase] { databases.values.sorted { $0.name < $1.name } }

    /// The user with this address of record.
    public func user(sipURI: String) -> DirectoryUser? { usersByURI[sipURI] }

    /// The user who authenticates with this name.
    public func user(authName: String) -> DirectoryUser? { usersByAuthName[authName] }

    /// Every user, ordered by URI.
    public var users: [DirectoryUser] { usersByURI.values.sorted { $0.sipURI < $1.sipURI } }
}

/// The address-of-record form of a user's SIP URI, shared with the SIP edge's lookups.
public enum UserAddress {
    /// `sip:user@host`, host lowercased, without port or parameters; nil without a user part.
    public static func addressOfRecord(_ text: String) -> (aor: String, user: String)? {
        // By UTF-8 bytes: every delimiter is ASCII, and this runs for every REGISTER.
        let utf8 = text.utf8
        guard let colon = utf8.firstIndex(of: UInt8(ascii: ":")) else { return nil }
        let scheme = text[..<colon].lowercased()
        guard scheme == "sip" || scheme == "sips" else { return nil }
        var rest = text[utf8.index(after: colon)...]
        if let cut = rest.utf8.firstIndex(where: {
            $0 == UInt8(ascii: ";") || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: ">")
        }) {
            rest = rest[..<cut]
        }
        guard let at = rest.utf8.lastIndex(of: UInt8(ascii: "@")) else { return nil }
        let userInfo = rest[..<at]
        let user = userInfo[..<(userInfo.utf8.firstIndex(of: UInt8(ascii: ":")) ?? userInfo.endIndex)]
        var host = rest[rest.utf8.index(after: at)...]
        if host.utf8.first == UInt8(ascii: "[") {
            guard let close = host.utf8.firstIndex(of: UInt8(ascii: "]")) else { return nil }
            host = host[...close]
        } else if let portColon = host.utf8.lastIndex(of: UInt8(ascii: ":")) {
            host = host[..<portColon]
        }
        guard !user.isEmpty, !host.isEmpty, !user.utf8.contains(32), !host.utf8.contains(32) else { return nil }
        return ("sip:\(user)@\(host.lowercased())", String(user))
    }

    /// Whether the host of an address of record is an IP address rather than a domain.
    public static func isAddressLiteral(_ aor: String) -> Bool {
        guard let at = aor.lastIndex(of: "@") else { return false }
        var host = aor[aor.index(after: at)...]
        if host.first == "[" && host.last == "]" { host = host.dropFirst().dropLast() }
        return IPAddress(host) != nil
    }
}
