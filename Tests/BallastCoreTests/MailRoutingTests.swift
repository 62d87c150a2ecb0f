import BallastCore
import Testing

/// Routing a logged-in user to the active copy of their mailbox database, and finding them by login.
struct MailRoutingTests {
    static let pool = Pool(
        name: "mailbox", check: Check(kind: .tcp, port: 143),
        servers: [
            Server(name: "mbx1", address: IPAddress("10.0.0.1")!),
            Server(name: "mbx2", address: IPAddress("10.0.0.2")!),
        ])
    static let alice = DirectoryUser(
        sipURI: "sip:alice@contoso.com", authName: "alice", ha1: [:], homePool: nil, mail: "alice@contoso.com",
        mailboxDatabase: "DB01")

    private func state(active: String = "mbx1", users: [DirectoryUser] = [alice]) -> PublishedState {
        let published = PublishedState(topology: Topology(pools: [Self.pool]))
        published.replaceDirectory(
            Directory(
                users: users,
                databases: [MailboxDatabase(name: "DB01", copies: ["mbx1", "mbx2", "mbx9"], active: active)]))
        return published
    }

    @Test func theActiveCopyDecides() throws {
        let first = try MailRouting.server(for: Self.alice, pool: "mailbox", in: state().current).get()
        #expect(first.key == ServerKey(pool: "mailbox", server: "mbx1"))
        #expect(first.database == "DB01")
        let moved = try MailRouting.server(for: Self.alice, pool: "mailbox", in: state(active: "mbx2").current).get()
        #expect(moved.server.name == "mbx2")
    }

    @Test func failuresSayWhatToFix() {
        var homeless = Self.alice
        homeless.mailboxDatabase = nil
        #expect(
            MailRouting.server(for: homeless, pool: "mailbox", in: state().current)
                == .failure(.noMailbox(user: "alice")))
        var lost = Self.alice
        lost.mailboxDatabase = "DB77"
        #expect(
            MailRouting.server(for: lost, pool: "mailbox", in: state().current)
                == .failure(.unknownDatabase(user: "alice", database: "DB77")))
        #expect(
            MailRouting.server(for: Self.alice, pool: "mailbox", in: state(active: "mbx9").current)
                == .failure(.activeServerNotInPool(database: "DB01", server: "mbx9", pool: "mailbox")))
        let published = state()
        published.setHealth(
            ServerHealth(status: .down, since: .now, lastResult: "refused"),
            for: ProbeKey(server: ServerKey(pool: "mailbox", server: "mbx1"), port: 143))
        let down = MailRouting.server(for: Self.alice, pool: "mailbox", in: published.current)
        #expect(
            down
                == .failure(
                    .activeServerUnavailable(database: "DB01", server: ServerKey(pool: "mailbox", server: "mbx1"))))
        if case .failure(let failure) = down { #expect(failure.description.contains("down or drained")) }
        let drained = state()
        _ = try? drained.setDrained(true, for: ServerKey(pool: "mailbox", server: "mbx1"))
        #expect((try? MailRouting.server(for: Self.alice, pool: "mailbox", in: drained.current).get()) == nil)
    }

    @Test func usersAreFoundByMailAuthNameOrAddress() {
        let directory = state().current.directory
        for login in ["alice@contoso.com", "ALICE@Contoso.com", "alice", "sip:alice@contoso.com"] {
            #expect(directory.user(login: login) == Self.alice, "\(login)")
        }
        #expect(directory.user(login: "bob@contoso.com") == nil)
        #expect(directory.user(login: "") == nil)
    }

    @Test func aRepeatedMailAddressKeepsTheFirstUser() {
        var twin = Self.alice
        twin.sipURI = "sip:alice2@contoso.com"
        twin.authName = "alice2"
        let directory = Directory(users: [Self.alice, twin])
        #expect(directory.users == [Self.alice])
    }

    @Test func historyDetailsNeverCarryCredentials() {
        var user = Self.alice
        user.ha1 = [.md5: "secret-md5", .sha256: "secret-sha"]
        let detail = DirectoryChange.putUser(user).detail
        #expect(!detail.contains("secret"))
        #expect(detail.contains("mailbox-database=DB01"))
        #expect(DirectoryChange.activate(database: "DB01", server: "mbx2").detail == "active=mbx2")
        #expect(DirectoryChange.activate(database: "DB01", server: "mbx2").subject == "DB01")
        #expect(DirectoryChange.setHome(sipURI: user.sipURI, pool: nil).detail == "home=-")
    }
}
