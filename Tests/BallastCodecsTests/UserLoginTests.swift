import BallastCodecs
import BallastCore
import Testing

/// The one login decision of HTTP route-by-user and the mail relays: throttle, password,
/// mailbox route, failure delay and realm, without a socket.
struct UserLoginTests {
    static let pool = Pool(
        name: "mailbox", check: Check(kind: .tcp, port: 143),
        servers: [
            Server(name: "mbx1", address: IPAddress("10.0.0.1")!),
            Server(name: "mbx2", address: IPAddress("10.0.0.2")!),
        ])
    static let realm = "contoso.com"
    static let alice = DirectoryUser(
        sipURI: "sip:alice@contoso.com", authName: "alice",
        ha1: [.sha256: Digest.ha1(username: "alice", realm: realm, password: "pw", algorithm: .sha256)], homePool: nil,
        mail: "alice@contoso.com", mailboxDatabase: "DB01")
    static let client = IPAddress("192.0.2.7")!
    let start = ContinuousClock.now

    func published(
        realm: String? = realm, sipRealm: String? = nil, failureDelay: Duration = .milliseconds(800),
        active: String = "mbx1"
    ) -> PublishedState {
        let settings = realm.map { StoreSettings(location: "ballast.db", realm: $0, failureDelay: failureDelay) }
        let sip = sipRealm.map { SIPSettings(realm: $0) }
        let published = PublishedState(topology: Topology(pools: [Self.pool], sip: sip, store: settings))
        published.replaceDirectory(
            Directory(
                users: [Self.alice],
                databases: [MailboxDatabase(name: "DB01", copies: ["mbx1", "mbx2"], active: active)]))
        return published
    }

    func decide(
        _ login: String = "alice@contoso.com", _ password: String = "pw", source: IPAddress? = client,
        in published: PublishedState,
        throttle: SharedLoginThrottle = SharedLoginThrottle(), after elapsed: Duration = .zero
    ) -> UserLogin.Outcome {
        UserLogin.decide(
            login: login, password: password, source: source, pool: "mailbox", state: published.current,
            throttle: throttle,
            now: start + elapsed)
    }

    @Test func theRightPasswordIsRoutedToTheActiveCopy() {
        let outcome = decide(in: published())
        guard case .routed(let user, let route) = outcome else {
            Issue.record("\(outcome)")
            return
        }
        #expect(user == Self.alice)
        #expect(route.key == ServerKey(pool: "mailbox", server: "mbx1") && route.database == "DB01")
        guard case .routed(_, let moved) = decide("alice", in: published(active: "mbx2")) else {
            Issue.record("not routed after the copy moved")
            return
        }
        #expect(moved.server.name == "mbx2")
    }

    @Test func aWrongPasswordOrAnUnknownUserIsRefusedAfterTheFailureDelay() {
        let published = published(failureDelay: .milliseconds(800))
        #expect(decide("alice", "PW", in: published) == .refused(delay: .milliseconds(800)))
        #expect(decide("mallory", "pw", in: published) == .refused(delay: .milliseconds(800)))
        #expect(decide("", "", in: published) == .refused(delay: .milliseconds(800)))
        // Without a failure delay in the config, the default; without a store, the same.
        #expect(
            decide("alice", "PW", in: self.published(realm: nil, sipRealm: Self.realm))
                == .refused(delay: UserLogin.defaultFailureDelay))
    }

    @Test func theRealmIsTheStoresElseSIPs() {
        #expect(UserLogin.realm(in: published().current) == Self.realm)
        #expect(
            UserLogin.realm(in: published(realm: "store.example", sipRealm: "sip.example").current) == "store.example")
        #expect(UserLogin.realm(in: published(realm: nil, sipRealm: "sip.example").current) == "sip.example")
        #expect(UserLogin.realm(in: published(realm: nil).current) == nil)
        // HA1 values computed in contoso.com: a store in another realm refuses the right password.
        #expect(decide(in: published(realm: "other.example")) == .refused(delay: .milliseconds(800)))
        guard case .routed = decide(in: published(realm: nil, sipRealm: Self.realm)) else {
            Issue.record("a users file's realm did not verify the password")
            return
        }
    }

    @Test func aMailboxThatCannotBeReachedSaysWhyAfterTheRightPassword() {
        let down = published()
        down.setHealth(
            ServerHealth(status: .down, since: .now, lastResult: "refused"),
            for: ProbeKey(server: ServerKey(pool: "mailbox", server: "mbx1"), port: 143))
        #expect(
            decide(in: down)
                == .unroutable(
                    Self.alice,
                    .activeServerUnavailable(database: "DB01", server: ServerKey(pool: "mailbox", server: "mbx1"))))
        #expect(
            decide(in: published(active: "mbx9"))
                == .unroutable(Self.alice, .activeServerNotInPool(database: "DB01", server: "mbx9", pool: "mailbox")))
        // A wrong password never learns whether the mailbox is reachable.
        #expect(decide("alice", "PW", in: down) == .refused(delay: .milliseconds(800)))
    }

    @Test func guessingIsSlowedThenRefusedAndTheRealUserStillGetsIn() {
        let published = published(failureDelay: .milliseconds(100))
        var limits = LoginThrottle.Limits()
        limits.sourceFree = 2
        limits.sourceBlockAfter = 4
        let throttle = SharedLoginThrottle(limits: limits)
        var delays: [Duration] = []
        for attempt in 0..<4 {
            guard case .refused(let delay) = decide("alice", "guess\(attempt)", in: published, throttle: throttle)
            else {
                Issue.record("attempt \(attempt) was not refused")
                return
            }
            delays.append(delay)
        }
        // The first failures at the configured pace, then later and later.
        #expect(delays[0] == .milliseconds(100) && delays[1] == .milliseconds(100))
        #expect(delays[2] > .milliseconds(100) && delays[3] > delays[2])
        // Blocked: refused before the password is checked, even the right one, with the usual delay.
        guard case .throttled(let until, let reason, let delay) = decide(in: published, throttle: throttle) else {
            Issue.record("the source was not blocked")
            return
        }
        #expect(reason == .source && delay == .milliseconds(100) && until > start)
        // Another address, and no address at all, are not held back by this one's guesses.
        guard case .routed = decide(source: IPAddress("198.51.100.9")!, in: published, throttle: throttle),
            case .routed = decide(source: nil, in: published, throttle: throttle)
        else {
            Issue.record("another source was held back")
            return
        }
        // Once the block is over the right password gets in again.
        guard case .routed = decide(in: published, throttle: throttle, after: limits.sourceBlock + .seconds(1)) else {
            Issue.record("still blocked after the block")
            return
        }
    }
}
