import BallastCodecs
import BallastCore
import BallastSIPRegistrar
import Logging
import Testing

/// The registrar and director without sockets or sleeps: requests as bytes, time passed in.
/// Two pools, hq and dr, each other's backup; alice and carol live at hq, bob at dr.
@Suite struct SIPRegistrarTests {
    static let realm = "lab.example"
    static let passwords = ["alice": "pw-alice", "bob": "pw-bob", "carol": "pw-carol"]
    let base = RegistrarTime(instant: .now, wall: 1_800_000_000)
    let hqProbe = ProbeKey(server: ServerKey(pool: "hq", server: "fe"), port: 5060)

    func makeStore() -> PublishedState {
        let settings = SIPSettings(
            realm: Self.realm,
            registrars: [
                .init(pool: "hq", listen: [.init(transport: .udp, endpoint: Endpoint("127.0.0.1:5070")!)]),
                .init(pool: "dr", listen: [.init(transport: .udp, endpoint: Endpoint("127.0.0.1:5080")!)]),
            ],
            failureDetection: .seconds(1), fallback: .seconds(30), nonceLifetime: .seconds(300), minExpires: 60)
        let topology = Topology(
            pools: [
                Pool(
                    name: "hq", backupPool: "dr", check: Check(),
                    servers: [Server(name: "fe", address: IPAddress("10.0.0.1")!, port: 5060)]),
                Pool(
                    name: "dr", backupPool: "hq",
                    servers: [Server(name: "fe", address: IPAddress("10.0.1.1")!, port: 5060)]),
            ],
            sip: settings)
        let published = PublishedState(topology: topology, now: base.instant)
        published.setHealth(ServerHealth(status: .up, since: base.instant, lastResult: "200"), for: hqProbe)
        let users = Self.passwords.keys.sorted().map { name in
            DirectoryUser(
                sipURI: "sip:\(name)@\(Self.realm)", authName: name,
                ha1: [
                    .md5: Digest.ha1(
                        username: name, realm: Self.realm, password: Self.passwords[name]!, algorithm: .md5)
                ],
                homePool: name == "bob" ? "dr" : "hq")
        }
        published.replaceDirectory(Directory(users: users))
        return published
    }

    func makeRegistrar(_ published: PublishedState) -> SIPRegistrar {
        var logger = Logger(label: "registrar-test")
        logger.logLevel = .critical
        return SIPRegistrar(state: published, logger: logger, nonceKey: Array(repeating: 7, count: 32))
    }

    let source = SIPSource(host: "192.0.2.10", port: 5062, transport: .udp)

    func request(
        _ user: String, callID: String = "call-1", cseq: Int = 1, contact: String? = "<sip:phone@192.0.2.10:5062>",
        expires: Int? = nil, authorization: String? = nil, maxForwards: Int = 70
    ) -> SIPMessage {
        var lines = [
            "REGISTER sip:\(Self.realm) SIP/2.0",
            "Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK\(callID)\(cseq)",
            "Max-Forwards: \(maxForwards)",
            "From: <sip:\(user)@\(Self.realm)>;tag=f\(user)",
            "To: <sip:\(user)@\(Self.realm)>",
            "Call-ID: \(callID)",
            "CSeq: \(cseq) REGISTER",
        ]
        if let contact { lines.append("Contact: \(contact)") }
        if let expires { lines.append("Expires: \(expires)") }
        if let authorization { lines.append("Authorization: \(authorization)") }
        lines.append("Content-Length: 0")
        return try! SIPMessageParser.parse(datagram: Array((lines.joined(separator: "\r\n") + "\r\n\r\n").utf8))
    }

    /// The Authorization a client with `password` sends for the challenge in `challenge`.
    func authorization(
        _ user: String, password: String? = nil, challenge: SIPMessage, nc: String = "00000001"
    ) -> String {
        let header = DigestHeader(challenge.first("WWW-Authenticate")!)!
        let nonce = header["nonce"]!
        let uri = "sip:\(Self.realm)"
        let ha1 = Digest.ha1(
            username: user, realm: Self.realm, password: password ?? Self.passwords[user] ?? "x", algorithm: .md5)
        let response = Digest.expectedResponse(
            ha1: ha1, method: "REGISTER", uri: uri, nonce: nonce, nc: nc, cnonce: "c0ffee", qop: "auth", algorithm: .md5
        )
        return "Digest username=\"\(user)\", realm=\"\(Self.realm)\", nonce=\"\(nonce)\", uri=\"\(uri)\", "
            + "response=\"\(response)\", algorithm=MD5, qop=auth, nc=\(nc), cnonce=\"c0ffee\""
    }

    /// REGISTER, 401, REGISTER with digest: the second answer.
    func signIn(
        _ registrar: SIPRegistrar, _ user: String, at pool: String?, now: RegistrarTime, callID: String = "call-1",
        contact: String? = "<sip:phone@192.0.2.10:5062>", expires: Int? = nil
    ) -> SIPAnswer {
        let challenge = registrar.answer(to: request(user, callID: callID), from: source, servedPool: pool, now: now)!
        #expect(challenge.message.status == 401)
        let signed = request(
            user, callID: callID, cseq: 2, contact: contact, expires: expires,
            authorization: authorization(user, challenge: challenge.message))
        return registrar.answer(to: signed, from: source, servedPool: pool, now: now)!
    }

    @Test func aHomeUserSignsInAndTheNewBindingIsReturnedForTheJournal() {
        let published = makeStore()
        let registrar = makeRegistrar(published)
        let answer = signIn(registrar, "alice", at: "hq", now: base, expires: 600)
        #expect(answer.message.status == 200)
        #expect(answer.delay == .zero)
        #expect(answer.message.first("Date") == "Fri, 15 Jan 2027 08:00:00 GMT")
        #expect(answer.changes.map(\.aor) == ["sip:alice@lab.example"])
        #expect(answer.changes.first?.pool == "hq")
        #expect(answer.changes.first?.bindings.map(\.uri) == ["sip:phone@192.0.2.10:5062"])
        #expect(registrar.bindings(of: "sip:alice@lab.example", at: "hq", now: base).count == 1)
    }

    @Test func aQueryWithoutContactSavesNothing() {
        let registrar = makeRegistrar(makeStore())
        _ = signIn(registrar, "alice", at: "hq", now: base, callID: "first")
        let query = signIn(registrar, "alice", at: "hq", now: base, callID: "query", contact: nil)
        #expect(query.message.status == 200)
        #expect(query.changes.isEmpty)
        #expect(query.message.all("Contact").count == 1)
    }

    @Test func aReplayedNonceCountIsChallengedAgainAsStale() {
        let registrar = makeRegistrar(makeStore())
        let challenge = registrar.answer(to: request("alice"), from: source, servedPool: "hq", now: base)!.message
        let signed = request("alice", cseq: 2, authorization: authorization("alice", challenge: challenge))
        #expect(registrar.answer(to: signed, from: source, servedPool: "hq", now: base)?.message.status == 200)
        let replay = registrar.answer(to: signed, from: source, servedPool: "hq", now: base)!.message
        #expect(replay.status == 401)
        #expect(replay.first("WWW-Authenticate")?.contains("stale=true") == true)
    }

    @Test func aNonceOlderThanItsLifetimeIsStale() {
        let registrar = makeRegistrar(makeStore())
        let challenge = registrar.answer(to: request("alice"), from: source, servedPool: "hq", now: base)!.message
        let signed = request("alice", cseq: 2, authorization: authorization("alice", challenge: challenge))
        let late = registrar.answer(to: signed, from: source, servedPool: "hq", now: base.adding(seconds: 301))!.message
        #expect(late.status == 401)
        #expect(late.first("WWW-Authenticate")?.contains("stale=true") == true)
    }

    @Test func aWrongPasswordIsForbiddenAndSavesNothing() {
        let registrar = makeRegistrar(makeStore())
        let challenge = registrar.answer(to: request("alice"), from: source, servedPool: "hq", now: base)!.message
        let wrong = request(
            "alice", cseq: 2, authorization: authorization("alice", password: "guess", challenge: challenge))
        let answer = registrar.answer(to: wrong, from: source, servedPool: "hq", now: base)!
        #expect(answer.message.status == 403)
        #expect(answer.changes.isEmpty)
        #expect(registrar.bindings(of: "sip:alice@lab.example", at: "hq", now: base).isEmpty)
    }

    @Test func repeatedGuessesAreHeldBackLongerAndLonger() {
        let registrar = makeRegistrar(makeStore())
        var delays: [Duration] = []
        for attempt in 0..<8 {
            let now = base.adding(seconds: Double(attempt))
            let challenge = registrar.answer(to: request("alice"), from: source, servedPool: "hq", now: now)!.message
            let wrong = request(
                "alice", cseq: 2 + attempt,
                authorization: authorization("alice", password: "guess\(attempt)", challenge: challenge))
            delays.append(registrar.answer(to: wrong, from: source, servedPool: "hq", now: now)!.delay)
        }
        #expect(delays.first == .zero)
        #expect(delays.last! > .zero)
        #expect(delays == delays.sorted())
    }

    @Test func aUserHomedElsewhereIsRedirectedAndLeavesNoBindingBehind() {
        let published = makeStore()
        let registrar = makeRegistrar(published)
        let answer = signIn(registrar, "bob", at: "hq", now: base)
        #expect(answer.message.status == 301)
        #expect(answer.message.first("Contact")?.contains("127.0.0.1:5080") == true)
        #expect(answer.changes.isEmpty)
        #expect(registrar.bindings(of: "sip:bob@lab.example", at: "hq", now: base).isEmpty)
    }

    @Test func theDirectorRedirectsEveryUserHome() {
        let registrar = makeRegistrar(makeStore())
        #expect(signIn(registrar, "alice", at: nil, now: base).message.first("Contact")?.contains("5070") == true)
        #expect(signIn(registrar, "bob", at: nil, now: base).message.first("Contact")?.contains("5080") == true)
    }

    @Test func aLostPoolIsPublishedAndItsUsersSignInAtTheBackupThenGoHome() {
        let published = makeStore()
        let registrar = makeRegistrar(published)
        let down = base.adding(seconds: 10)
        published.setHealth(ServerHealth(status: .down, since: down.instant, lastResult: "timeout"), for: hqProbe)
        // Down for less than failure detection: still home.
        _ = registrar.tick(now: down.adding(seconds: 0.5))
        #expect(published.current.lostPools.isEmpty)
        #expect(
            signIn(registrar, "alice", at: "dr", now: down.adding(seconds: 0.5), callID: "early").message.status == 301)
        // Past it: lost, in the State for DNS, the status API and the dashboard.
        let lostAt = down.adding(seconds: 1.5)
        _ = registrar.tick(now: lostAt)
        #expect(published.current.lostPools == ["hq"])
        #expect(registrar.lostPools == ["hq"])
        let atBackup = signIn(registrar, "alice", at: "dr", now: lostAt, callID: "resilient")
        #expect(atBackup.message.status == 200)
        #expect(atBackup.message.first("Presence-State")?.contains("is-connected-to-primary=\"no\"") == true)
        #expect(registrar.bindings(of: "sip:alice@lab.example", at: "dr", now: lostAt).first?.resiliency == true)
        // Back up, but not for the fallback interval yet: the backup keeps her.
        let up = lostAt.adding(seconds: 5)
        published.setHealth(ServerHealth(status: .up, since: up.instant, lastResult: "200"), for: hqProbe)
        _ = registrar.tick(now: up.adding(seconds: 29))
        #expect(published.current.lostPools == ["hq"])
        _ = registrar.tick(now: up.adding(seconds: 31))
        #expect(published.current.lostPools.isEmpty)
        let home = signIn(registrar, "alice", at: "dr", now: up.adding(seconds: 31), callID: "home")
        #expect(home.message.status == 301)
        #expect(home.changes == [BindingChange(pool: "dr", aor: "sip:alice@lab.example", bindings: [])])
    }

    @Test func lapsedBindingsAreDroppedByTheTickAndReturnedForTheJournal() {
        let registrar = makeRegistrar(makeStore())
        _ = signIn(registrar, "alice", at: "hq", now: base, expires: 60)
        _ = signIn(registrar, "carol", at: "hq", now: base, expires: 600)
        #expect(registrar.tick(now: base.adding(seconds: 59)).isEmpty)
        let lapsed = registrar.tick(now: base.adding(seconds: 61))
        #expect(lapsed == [BindingChange(pool: "hq", aor: "sip:alice@lab.example", bindings: [])])
        #expect(registrar.bindings(of: "sip:carol@lab.example", at: "hq", now: base.adding(seconds: 61)).count == 1)
    }

    @Test func restoredBindingsAreServedUntilTheyLapse() {
        let binding = Binding(uri: "sip:phone@192.0.2.9", expiresAt: base.wall + 100, callID: "old", cseq: 9)
        let published = makeStore()
        var logger = Logger(label: "registrar-test")
        logger.logLevel = .critical
        let registrar = SIPRegistrar(
            state: published, logger: logger,
            restored: ["hq": Registrations(bindings: ["sip:alice@lab.example": [binding]])])
        #expect(registrar.bindings(of: "sip:alice@lab.example", at: "hq", now: base) == [binding])
        #expect(registrar.bindings(of: "sip:alice@lab.example", at: "hq", now: base.adding(seconds: 101)).isEmpty)
    }

    @Test func malformedRequestsGetTheirErrorAndNoBinding() {
        let registrar = makeRegistrar(makeStore())
        let noVia = try! SIPMessageParser.parse(
            datagram: Array(
                "REGISTER sip:lab.example SIP/2.0\r\nFrom: <sip:a@lab.example>\r\nTo: <sip:a@lab.example>\r\nCall-ID: x\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n"
                    .utf8))
        #expect(registrar.answer(to: noVia, from: source, servedPool: "hq", now: base)?.message.status == 400)
        let hops = request("alice", maxForwards: 0)
        #expect(registrar.answer(to: hops, from: source, servedPool: "hq", now: base)?.message.status == 483)
    }

    @Test func signInsFromManyThreadsAtOnceAllBind() async {
        let published = makeStore()
        let registrar = makeRegistrar(published)
        let base = self.base
        await withTaskGroup(of: Void.self) { group in
            for worker in 0..<4 {
                group.addTask {
                    for round in 0..<50 {
                        let user = ["alice", "carol"][round % 2]
                        let answer = signIn(
                            registrar, user, at: "hq", now: base, callID: "w\(worker)r\(round)",
                            contact: "<sip:w\(worker)r\(round)@192.0.2.10>", expires: 600)
                        #expect(answer.message.status == 200 || answer.message.status == 403)
                    }
                }
            }
        }
        let bound =
            registrar.bindings(of: "sip:alice@lab.example", at: "hq", now: base).count
            + registrar.bindings(of: "sip:carol@lab.example", at: "hq", now: base).count
        // Each address of record keeps at most max-contacts (10) bindings.
        #expect(bound == 20)
    }
}
