import BallastCodecs
public import BallastCore
import Foundation

/// Users and mailbox databases read from a CSV or JSON file for `ballast users import`, checked
/// row by row against the config; every error names the file, the row and the column.
///
/// CSV has a header row naming its columns, in any order:
/// `sip-uri,auth-name,mail,password,ha1-md5,ha1-sha256,home-pool,mailbox-database,contacts`
/// (contacts separated by `;`). JSON is `{"realm": ..., "users": [{...}], "databases": [{"name":
/// "DB01", "copies": ["mbx1", "mbx2"], "active": "mbx1"}]}` with the same keys per user.
/// A password is hashed at once (HA1 in the store's realm) and never kept.
public struct UserImport: Hashable, Sendable {
    /// The users, in file order.
    public var users: [DirectoryUser]
    /// The databases, in file order.
    public var databases: [MailboxDatabase]

    /// The columns and keys a user row may have.
    public static let userKeys = [
        "sip-uri", "auth-name", "mail", "password", "ha1-md5", "ha1-sha256", "ha1-aliases", "home-pool",
        "mailbox-database",
        "contacts",
    ]
    static let databaseKeys = ["name", "copies", "active"]

    /// The file format.
    public enum Format: String, Sendable, CaseIterable {
        case csv, json

        /// The format a file name's extension names, JSON for `.json`, CSV otherwise.
        public init(path: String) { self = path.lowercased().hasSuffix(".json") ? .json : .csv }
    }

    /// Reads `text` (from `file`, named in errors). `knownDatabases` are those the store already has.
    public static func parse(
        _ text: String, format: Format, file: String, realm: String, topology: Topology,
        knownDatabases: Set<String> = []
    ) throws(ConfigErrors) -> UserImport {
        var rows = RowReader(file: file, realm: realm, topology: topology)
        switch format {
        case .csv: rows.readCSV(text)
        case .json: rows.readJSON(text)
        }
        rows.checkReferences(knownDatabases: knownDatabases)
        guard rows.errors.isEmpty else { throw ConfigErrors(errors: rows.errors) }
        return UserImport(users: rows.users, databases: rows.databases)
    }

    /// The JSON form of `directory`, which `parse` reads back (HA1 values, never passwords).
    public static func exportJSON(_ directory: Directory, realm: String) -> String {
        var users: [[String: Any]] = []
        for user in directory.users {
            var entry: [String: Any] = ["sip-uri": user.sipURI, "auth-name": user.authName, "contacts": user.contacts]
            if let value = user.mail { entry["mail"] = value }
            if let value = user.ha1[.md5] { entry["ha1-md5"] = value }
            if let value = user.ha1[.sha256] { entry["ha1-sha256"] = value }
            if !user.ha1Aliases.isEmpty { entry["ha1-aliases"] = user.encodedAliases(separator: ";") }
            if let value = user.homePool { entry["home-pool"] = value }
            if let value = user.mailboxDatabase { entry["mailbox-database"] = value }
            users.append(entry)
        }
        let databases: [[String: Any]] = directory.allDatabases.map {
            ["name": $0.name, "copies": $0.copies, "active": $0.active]
        }
        let root: [String: Any] = [
            "realm": realm, "revision": directory.revision, "users": users, "databases": databases,
        ]
        let data =
            (try? JSONSerialization.data(withJSONObject: root, options: [.prettyPrinted, .sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// The CSV form of `directory`'s users, which `parse` reads back.
    public static func exportCSV(_ directory: Directory) -> String {
        let columns = userKeys.filter { $0 != "password" }
        var lines = [CSV.line(columns)]
        for user in directory.users {
            lines.append(
                CSV.line([
                    user.sipURI, user.authName, user.mail ?? "", user.ha1[.md5] ?? "", user.ha1[.sha256] ?? "",
                    user.encodedAliases(separator: ";"), user.homePool ?? "", user.mailboxDatabase ?? "",
                    user.contacts.joined(separator: ";"),
                ]))
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// Reads rows into users, collecting every error.
private struct RowReader {
    let file: String
    let realm: String
    let topology: Topology
    var users: [DirectoryUser] = []
    var databases: [MailboxDatabase] = []
    var errors: [ConfigError] = []
    private var seen: [String: [String: Int]] = [:]
    private var databaseRows: [String: (row: Int, line: Int?)] = [:]
    private var userDatabaseRefs: [(database: String, row: Int, line: Int?)] = []

    init(file: String, realm: String, topology: Topology) {
        self.file = file
        self.realm = realm
        self.topology = topology
    }

    mutating func fail(
        row: Int, line: Int?, key: String, _ message: String, expected: String? = nil,
        code: ConfigError.Code = .invalidValue
    ) {
        errors.append(
            ConfigError(
                code: code, file: file, line: line, column: nil, key: key, message: "row \(row): \(message)",
                expected: expected))
    }

    mutating func readCSV(_ text: String) {
        let records: [CSV.Record]
        do {
            records = try CSV.parse(text)
        } catch {
            errors.append(
                ConfigError(code: .syntax, file: file, line: error.line, column: nil, key: "", message: error.message))
            return
        }
        guard let header = records.first else {
            errors.append(
                ConfigError(
                    code: .missingKey, file: file, line: 1, column: nil, key: "", message: "is empty",
                    expected: "a header row: \(UserImport.userKeys.joined(separator: ","))"))
            return
        }
        let columns = header.fields.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        for (index, name) in columns.enumerated() where !UserImport.userKeys.contains(name) {
            errors.append(
                ConfigError(
                    code: .unknownKey, file: file, line: header.line, column: index + 1, key: name,
                    message: "is not a column Ballast knows",
                    expected: "one of \(UserImport.userKeys.joined(separator: ", "))"))
        }
        guard errors.isEmpty else { return }
        for (number, record) in records.dropFirst().enumerated() {
            let row = number + 1
            guard record.fields.count == columns.count else {
                fail(
                    row: row, line: record.line, key: "",
                    "has \(record.fields.count) fields, the header \(columns.count)",
                    expected: "one field per header column")
                continue
            }
            var values: [String: String] = [:]
            for (name, value) in zip(columns, record.fields) {
                let trimmed = value.trimmingCharacters(in: .whitespaces)
                if !trimmed.isEmpty { values[name] = trimmed }
            }
            let contacts = (values["contacts"] ?? "").split(separator: ";").map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            readUser(values, contacts: contacts.filter { !$0.isEmpty }, row: row, line: record.line)
        }
    }

    mutating func readJSON(_ text: String) {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(text.utf8))
        } catch {
            errors.append(
                ConfigError(
                    code: .syntax, file: file, line: nil, column: nil, key: "", message: "is not valid JSON",
                    expected: "{\"users\": [...], \"databases\": [...]}"))
            return
        }
        guard let root = object as? [String: Any] else {
            errors.append(
                ConfigError(
                    code: .invalidValue, file: file, line: nil, column: nil, key: "", message: "is not a JSON object",
                    expected: "{\"users\": [...], \"databases\": [...]}"))
            return
        }
        for key in root.keys where !["realm", "revision", "users", "databases"].contains(key) {
            errors.append(
                ConfigError(
                    code: .unknownKey, file: file, line: nil, column: nil, key: key,
                    message: "is not a key Ballast knows",
                    expected: "realm, users, databases"))
        }
        if let fileRealm = root["realm"] as? String, fileRealm != realm {
            errors.append(
                ConfigError(
                    code: .conflict, file: file, line: nil, column: nil, key: "realm",
                    message:
                        "is \"\(fileRealm)\" but the store's realm is \"\(realm)\": the HA1 values would never match",
                    expected: "the realm the HA1 values were computed in"))
        }
        for (index, item) in ((root["databases"] as? [Any]) ?? []).enumerated() {
            readDatabase(item, row: index + 1)
        }
        for (index, item) in ((root["users"] as? [Any]) ?? []).enumerated() {
            let row = index + 1
            guard let entry = item as? [String: Any] else {
                fail(row: row, line: nil, key: "users[\(index)]", "is not an object", expected: "{\"sip-uri\": ...}")
                continue
            }
            var values: [String: String] = [:]
            var contacts: [String] = []
            for (key, value) in entry {
                guard UserImport.userKeys.contains(key) else {
                    fail(
                        row: row, line: nil, key: "users[\(index)].\(key)", "is not a key Ballast knows",
                        expected: "one of \(UserImport.userKeys.joined(separator: ", "))", code: .unknownKey)
                    continue
                }
                if key == "contacts" {
                    guard let list = value as? [String] else {
                        fail(
                            row: row, line: nil, key: "users[\(index)].contacts", "is not a list of strings",
                            expected: "[\"sip:bob@...\"]")
                        continue
                    }
                    contacts = list
                } else if let text = value as? String {
                    if !text.isEmpty { values[key] = text }
                } else {
                    fail(row: row, line: nil, key: "users[\(index)].\(key)", "is not a string")
                }
            }
            readUser(values, contacts: contacts, row: row, line: nil)
        }
    }

    private mutating func readDatabase(_ item: Any, row: Int) {
        let key = "databases[\(row - 1)]"
        guard let entry = item as? [String: Any] else {
            fail(
                row: row, line: nil, key: key, "is not an object",
                expected: "{\"name\": \"DB01\", \"copies\": [...], \"active\": ...}")
            return
        }
        for name in entry.keys where !UserImport.databaseKeys.contains(name) {
            fail(
                row: row, line: nil, key: "\(key).\(name)", "is not a key Ballast knows",
                expected: "name, copies, active", code: .unknownKey)
        }
        guard let name = entry["name"] as? String, !name.isEmpty else {
            fail(
                row: row, line: nil, key: "\(key).name", "is missing", expected: "the database's name, such as DB01",
                code: .missingKey)
            return
        }
        guard let copies = entry["copies"] as? [String], !copies.isEmpty else {
            fail(
                row: row, line: nil, key: "\(key).copies", "is missing or empty",
                expected: "the servers holding a copy, such as [\"mbx1\", \"mbx2\"]", code: .missingKey)
            return
        }
        let servers = Set(topology.pools.flatMap { $0.servers.map(\.name) })
        for copy in copies where !servers.contains(copy) {
            fail(
                row: row, line: nil, key: "\(key).copies", "names server \(copy), which no pool has",
                expected: "server names from pools",
                code: .unknownReference)
        }
        let active = (entry["active"] as? String) ?? copies[0]
        guard copies.contains(active) else {
            fail(
                row: row, line: nil, key: "\(key).active", "is \(active), not one of the copies",
                expected: copies.joined(separator: " or "))
            return
        }
        if databaseRows[name] != nil {
            fail(row: row, line: nil, key: "\(key).name", "\(name) appears twice", code: .duplicate)
            return
        }
        databaseRows[name] = (row, nil)
        databases.append(MailboxDatabase(name: name, copies: copies, active: active))
    }

    private mutating func readUser(_ values: [String: String], contacts: [String], row: Int, line: Int?) {
        let errorsBefore = errors.count
        guard let uriText = values["sip-uri"] else {
            fail(row: row, line: line, key: "sip-uri", "is missing", expected: "sip:USER@DOMAIN", code: .missingKey)
            return
        }
        guard let aor = UserAddress.addressOfRecord(uriText) else {
            fail(row: row, line: line, key: "sip-uri", "\(uriText) is not a SIP address", expected: "sip:USER@DOMAIN")
            return
        }
        let authName = values["auth-name"] ?? aor.user
        let mail = values["mail"]?.lowercased()
        if let mail, !Self.isMailAddress(mail) {
            fail(row: row, line: line, key: "mail", "\(mail) is not a mail address", expected: "USER@DOMAIN")
        }
        var ha1: [DigestAlgorithm: String] = [:]
        var ha1Aliases: [String: [DigestAlgorithm: String]] = [:]
        if let password = values["password"] {
            if values["ha1-md5"] != nil || values["ha1-sha256"] != nil {
                fail(
                    row: row, line: line, key: "password", "is given with HA1 values",
                    expected: "a password or HA1 values, not both", code: .conflict
                )
            }
            (ha1, ha1Aliases) = Digest.credentials(authName: authName, realm: realm, password: password)
        } else {
            for (key, algorithm, length) in [("ha1-md5", DigestAlgorithm.md5, 32), ("ha1-sha256", .sha256, 64)] {
                guard let value = values[key]?.lowercased() else { continue }
                guard value.count == length, value.allSatisfy(\.isHexDigit) else {
                    fail(
                        row: row, line: line, key: key, "is not \(length) hex digits",
                        expected: "H(\(authName):\(realm):password) in hex")
                    continue
                }
                ha1[algorithm] = value
            }
            if let text = values["ha1-aliases"] {
                if let aliases = DirectoryUser.decodeAliases(text, separator: ";") {
                    ha1Aliases = aliases
                } else {
                    fail(
                        row: row, line: line, key: "ha1-aliases", "is not a list of SPELLING ALGORITHM HEX",
                        expected: "entries such as \"\(authName)@ MD5 <32 hex digits>\" separated by ;")
                }
            }
            if values["ha1-md5"] == nil && values["ha1-sha256"] == nil {
                fail(
                    row: row, line: line, key: "password", "is missing",
                    expected: "password, or ha1-md5 and/or ha1-sha256", code: .missingKey)
            }
        }
        let homePool = values["home-pool"]
        if let homePool, topology.pool(named: homePool) == nil {
            fail(
                row: row, line: line, key: "home-pool", "names pool \(homePool), which the config does not have",
                expected: "one of \(topology.pools.map(\.name).joined(separator: ", "))", code: .unknownReference)
        }
        for contact in contacts where contact.contains("\n") || contact.isEmpty {
            fail(
                row: row, line: line, key: "contacts", "holds an empty or multi-line entry",
                expected: "SIP URIs or mail addresses")
        }
        for (key, value) in [("sip-uri", aor.aor), ("auth-name", authName), ("mail", mail)] {
            guard let value else { continue }
            if let first = seen[key]?[value] {
                fail(row: row, line: line, key: key, "\(value) is already used by row \(first)", code: .duplicate)
            } else {
                seen[key, default: [:]][value] = row
            }
        }
        if let database = values["mailbox-database"] { userDatabaseRefs.append((database, row, line)) }
        guard errors.count == errorsBefore else { return }
        users.append(
            DirectoryUser(
                sipURI: aor.aor, authName: authName, ha1: ha1, ha1Aliases: ha1Aliases, homePool: homePool, mail: mail,
                mailboxDatabase: values["mailbox-database"], contacts: contacts))
    }

    mutating func checkReferences(knownDatabases: Set<String>) {
        for reference in userDatabaseRefs
        where databaseRows[reference.database] == nil && !knownDatabases.contains(reference.database) {
            fail(
                row: reference.row, line: reference.line, key: "mailbox-database",
                "names database \(reference.database), which neither this file nor the store has",
                expected: "a database from `ballast db list`, or one under \"databases\" in a JSON import",
                code: .unknownReference)
        }
    }

    private static func isMailAddress(_ text: String) -> Bool {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        return parts.count == 2 && !parts[0].isEmpty && parts[1].contains(".") && !text.contains(where: \.isWhitespace)
    }
}
