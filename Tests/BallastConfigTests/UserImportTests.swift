import BallastCodecs
import BallastConfig
import BallastCore
import Testing

/// `ballast users import`: CSV and JSON rows become users and databases, every bad row is named.
struct UserImportTests {
    static let topology = Topology(
        pools: [
            Pool(name: "pool-hq", servers: [Server(name: "mbx1", address: IPAddress("10.0.0.1")!)]),
            Pool(name: "pool-dr", servers: [Server(name: "mbx2", address: IPAddress("10.0.0.2")!)]),
        ])

    func parse(
        _ text: String, _ format: UserImport.Format, known: Set<String> = ["DB01"]
    ) throws(ConfigErrors) -> UserImport {
        try UserImport.parse(
            text, format: format, file: "users.\(format.rawValue)", realm: "contoso.com", topology: Self.topology,
            knownDatabases: known)
    }

    func errors(_ text: String, _ format: UserImport.Format) -> [ConfigError] {
        do {
            _ = try parse(text, format)
            Issue.record("expected errors")
            return []
        } catch {
            return error.errors
        }
    }

    @Test func csvRowsBecomeUsersWithHashedPasswords() throws {
        let text = """
            sip-uri,mail,password,home-pool,mailbox-database,contacts
            sip:Alice@Contoso.com,Alice@Contoso.com,alice-demo,pool-hq,DB01,sip:bob@contoso.com; carol@contoso.com
            sip:bob@contoso.com,,bob-demo,,,

            """
        let result = try parse(text, .csv)
        #expect(result.users.count == 2)
        let alice = result.users[0]
        #expect(alice.sipURI == "sip:Alice@contoso.com")
        #expect(alice.authName == "Alice")
        #expect(alice.mail == "alice@contoso.com")
        #expect(
            alice.ha1[.md5]
                == Digest.ha1(username: "Alice", realm: "contoso.com", password: "alice-demo", algorithm: .md5))
        #expect(alice.ha1[.sha256] != nil)
        #expect(alice.contacts == ["sip:bob@contoso.com", "carol@contoso.com"])
        #expect(result.users[1].homePool == nil && result.users[1].mail == nil)
    }

    @Test func everyBadCSVRowIsNamedWithItsLine() {
        let text = """
            sip-uri,auth-name,mail,password,ha1-md5,home-pool,mailbox-database
            sip:a@x.com,,a@x.com,pw,,nowhere,DB01
            not-a-uri,,,pw,,,
            sip:b@x.com,,b@x,,,,DB99
            sip:c@x.com,,,,zz,,
            sip:a@x.com,,a@x.com,pw,,,
            sip:d@x.com,,,pw,0123456789abcdef0123456789abcdef,,
            sip:e@x.com,,,pw
            """
        let found = errors(text, .csv)
        let summary = found.map { "\($0.line ?? 0) \($0.key)" }
        #expect(
            summary == [
                "2 home-pool", "3 sip-uri", "4 mail", "4 password", "5 ha1-md5", "6 sip-uri", "6 auth-name",
                "6 mail", "7 password", "8 ", "4 mailbox-database",
            ])
        #expect(found.allSatisfy { $0.message.hasPrefix("row ") })
        #expect(found[0].description.hasPrefix("users.csv:2: home-pool: row 1: names pool nowhere"))
    }

    @Test func unknownColumnsAndBrokenQuotingStopTheImport() {
        #expect(errors("sip-uri,passwd\nsip:a@x.com,pw\n", .csv).map(\.key) == ["passwd"])
        #expect(errors("sip-uri,password\n\"sip:a@x.com,pw\n", .csv).map(\.code) == [.syntax])
        #expect(errors("", .csv).map(\.code) == [.missingKey])
    }

    @Test func jsonCarriesDatabasesAndHA1Values() throws {
        let md5 = String(repeating: "a", count: 32)
        let text = """
            {"realm": "contoso.com",
             "databases": [{"name": "DB02", "copies": ["mbx1", "mbx2"], "active": "mbx2"}],
             "users": [{"sip-uri": "sip:alice@contoso.com", "ha1-md5": "\(md5)", "mailbox-database": "DB02",
                        "contacts": ["sip:bob@contoso.com"]}]}
            """
        let result = try parse(text, .json, known: [])
        #expect(result.databases == [MailboxDatabase(name: "DB02", copies: ["mbx1", "mbx2"], active: "mbx2")])
        #expect(result.users.first?.ha1 == [.md5: md5])
        #expect(result.users.first?.contacts == ["sip:bob@contoso.com"])
    }

    @Test func badJSONRowsAreNamedByIndex() {
        let text = """
            {"realm": "other.com", "extra": 1,
             "databases": [{"name": "DB02", "copies": ["mbx7"]}, {"copies": ["mbx1"]}, {"name": "DB03", "copies": ["mbx1"], "active": "mbx2"}],
             "users": [{"sip-uri": "sip:a@x.com", "password": 5}, "text", {"sip-uri": "sip:b@x.com", "password": "p", "contacts": "x"},
                       {"sip-uri": "sip:c@x.com", "password": "p", "colour": "red"}]}
            """
        let keys = errors(text, .json).map(\.key)
        #expect(
            keys == [
                "extra", "realm", "databases[0].copies", "databases[1].name", "databases[2].active",
                "users[0].password",
                "password", "users[1]", "users[2].contacts", "users[3].colour",
            ])
        #expect(errors("[1,2]", .json).map(\.code) == [.invalidValue])
        #expect(errors("{nope", .json).map(\.code) == [.syntax])
    }

    @Test func exportsReadBackAsTheSameDirectory() throws {
        let import1 = try parse(
            "sip-uri,mail,password,home-pool,mailbox-database,contacts\nsip:a@x.com,a@x.com,pw,pool-hq,DB01,sip:b@x.com;c@x.com\n",
            .csv)
        let directory = Directory(
            users: import1.users, databases: [MailboxDatabase(name: "DB01", copies: ["mbx1"], active: "mbx1")],
            revision: 4)
        let json = try parse(UserImport.exportJSON(directory, realm: "contoso.com"), .json, known: [])
        #expect(json.users == import1.users)
        #expect(json.databases == directory.allDatabases)
        let csv = try parse(UserImport.exportCSV(directory), .csv)
        #expect(csv.users == import1.users)
    }
}
