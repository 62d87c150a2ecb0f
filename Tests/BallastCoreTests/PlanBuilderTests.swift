import BallastCore
import Testing

/// Failover and failback plans, made from the config and the directory, and fencing in the state.
struct PlanBuilderTests {
    static let topology = Topology(
        sites: [Site(name: "hq"), Site(name: "dr")],
        pools: [
            Pool(
                name: "pool-hq", site: "hq", backupPool: "pool-dr",
                servers: [Server(name: "fe1", address: IPAddress("10.0.1.11")!)]),
            Pool(
                name: "pool-dr", site: "dr", backupPool: "pool-hq",
                servers: [Server(name: "fe2", address: IPAddress("10.0.2.11")!)]),
            Pool(
                name: "mailbox-hq", site: "hq",
                servers: [Server(name: "EX1", address: IPAddress("10.0.1.21")!)]),
            Pool(
                name: "mailbox-dr", site: "dr",
                servers: [Server(name: "EX3", address: IPAddress("10.0.2.21")!)]),
        ])
    static let directory = Directory(
        users: [
            DirectoryUser(sipURI: "sip:a@x", authName: "a", ha1: [:], homePool: "pool-hq"),
            DirectoryUser(sipURI: "sip:b@x", authName: "b", ha1: [:], homePool: "pool-hq"),
            DirectoryUser(sipURI: "sip:c@x", authName: "c", ha1: [:], homePool: "pool-dr"),
        ],
        databases: [
            MailboxDatabase(name: "DB01", copies: ["EX1", "EX3"], active: "EX1"),
            MailboxDatabase(name: "DB02", copies: ["EX1", "EX3"], active: "EX3"),
        ], revision: 9)

    @Test func aFailoverFencesPromotesMovesActivatesRestoresAndChecks() throws {
        let plan = try PlanBuilder.failover(site: "hq", topology: Self.topology, directory: Self.directory)
        #expect(plan.id == "failover-hq-r9")
        #expect(
            plan.steps.map(\.action) == [
                .promoteStore, .fenceSite("hq"), .moveUsers(from: "pool-hq", to: "pool-dr"),
                .activateCopies(site: "hq"),
                .restoreUserData(pool: "pool-hq"), .repointDNS(site: "hq"), .switchSIPRedirects(site: "hq"),
            ])
        #expect(plan.steps.map(\.number) == Array(1...7))
        #expect(plan.steps[2].summary.contains("move 2 users of pool-hq to pool-dr"))
        #expect(plan.steps[3].summary.contains("1 mailbox database: DB01"))
    }

    @Test func aFailbackUndoesWhatTheFailoverMoved() throws {
        let failover = try PlanBuilder.failover(site: "hq", topology: Self.topology, directory: Self.directory)
        let failback = try PlanBuilder.failback(site: "hq", after: failover, directory: Self.directory)
        #expect(
            failback.steps.map(\.action) == [
                .unfenceSite("hq"), .moveUsersBack(from: "pool-hq", to: "pool-dr", failover: failover.id),
                .activateCopiesBack(site: "hq", failover: failover.id), .repointDNS(site: "hq"),
                .switchSIPRedirects(site: "hq"),
            ])
        #expect(throws: PlanBuilder.Refusal.self) {
            try PlanBuilder.failback(site: "dr", after: failover, directory: Self.directory)
        }
    }

    @Test func plansThatCannotWorkAreRefused() {
        #expect(throws: PlanBuilder.Refusal.self) {
            try PlanBuilder.failover(site: "mars", topology: Self.topology, directory: Self.directory)
        }
        var one = Self.topology
        one.sites = [Site(name: "hq")]
        #expect(throws: PlanBuilder.Refusal.self) {
            try PlanBuilder.failover(site: "hq", topology: one, directory: Self.directory)
        }
        var sameSite = Self.topology
        sameSite.pools[1].site = "hq"
        #expect(throws: PlanBuilder.Refusal.self) {
            try PlanBuilder.failover(site: "hq", topology: sameSite, directory: Self.directory)
        }
    }

    @Test func stepsRunOnlyAfterTheirPredecessors() {
        #expect(PlanBuilder.mayRun(1, statuses: [:]))
        #expect(!PlanBuilder.mayRun(3, statuses: [1: .done]))
        #expect(PlanBuilder.mayRun(3, statuses: [1: .done, 2: .skipped]))
        #expect(!PlanBuilder.mayRun(3, statuses: [1: .done, 2: .running]))
    }

    @Test func aFencedSitesPoolsTakeNothingWhateverTheirHealth() {
        let published = PublishedState(topology: Self.topology)
        #expect(!published.current.pools["pool-hq"]!.isUnavailable)
        var fenced = Self.directory
        fenced.fencedSites = ["hq": "2026-12-03T10:00:00.000Z"]
        published.replaceDirectory(fenced)
        let state = published.current
        #expect(state.pools["pool-hq"]!.isUnavailable)
        #expect(state.pools["mailbox-hq"]!.isUnavailable)
        #expect(!state.pools["pool-dr"]!.isUnavailable)
        #expect(state.isFenced(pool: "pool-hq") && !state.isFenced(pool: "pool-dr"))
        #expect(state.availability(ofPool: "pool-hq")?.available == false)
    }

    /// A pool that spans sites (a web farm, the mail relay's servers) loses only the fenced site's
    /// servers; their mailbox databases are activated elsewhere by the plan.
    @Test func aPoolSpanningSitesLosesOnlyTheFencedSitesServers() throws {
        var topology = Self.topology
        topology.pools.append(
            Pool(
                name: "web",
                servers: [
                    Server(name: "web-hq", address: IPAddress("10.0.1.31")!, site: "hq"),
                    Server(name: "web-dr", address: IPAddress("10.0.2.31")!, site: "dr"),
                    Server(name: "web-any", address: IPAddress("10.0.3.31")!),
                    Server(name: "EX2", address: IPAddress("10.0.1.22")!, site: "hq"),
                ]))
        #expect(topology.serverNames(at: "hq") == ["fe1", "EX1", "web-hq", "EX2"])
        let published = PublishedState(topology: topology)
        var fenced = Self.directory
        fenced.fencedSites = ["hq": "2026-12-03T10:00:00.000Z"]
        published.replaceDirectory(fenced)
        let web = try #require(published.current.pools["web"])
        #expect(Set(web.primaries.members.map(\.server.name)) == ["web-dr", "web-any"])
        #expect(!published.current.isFenced(pool: "web"))
        let pool = try #require(topology.pool(named: "web"))
        #expect(
            published.current.isFenced(pool.servers[0], in: pool)
                && !published.current.isFenced(pool.servers[1], in: pool))

        var directory = Self.directory
        directory = Directory(
            users: directory.users,
            databases: directory.allDatabases + [MailboxDatabase(name: "DB03", copies: ["EX2", "EX3"], active: "EX2")])
        let plan = try PlanBuilder.failover(site: "hq", topology: topology, directory: directory)
        #expect(plan.steps.contains { $0.summary.contains("2 mailbox databases: DB01, DB03") })
    }
}

/// When a site may fail over by itself: only after every pool of it has been down for the set
/// time, while another site serves, and never once fenced; the witness is asked after that.
struct SiteGuardTests {
    static let topology = PlanBuilderTests.topology

    @Test func aSiteIsACandidateOnlyAfterItsPoolsWereDownForTheSetTime() {
        var guardian = SiteGuard()
        var topology = Self.topology
        for index in topology.pools.indices { topology.pools[index].check = Check(kind: .tcp, port: 5061) }
        let published = PublishedState(topology: topology)
        let start = ContinuousClock.now
        #expect(guardian.candidates(state: published.current, automaticAfter: .seconds(30), now: start).isEmpty)
        for pool in topology.pools where pool.site == "hq" {
            for server in pool.servers {
                published.setHealth(
                    ServerHealth(status: .down, since: start, lastResult: "refused"),
                    for: ProbeKey(server: ServerKey(pool: pool.name, server: server.name), port: 5061))
            }
        }
        #expect(guardian.candidates(state: published.current, automaticAfter: .seconds(30), now: start).isEmpty)
        #expect(
            guardian.candidates(state: published.current, automaticAfter: .seconds(30), now: start + .seconds(29))
                .isEmpty)
        #expect(
            guardian.candidates(state: published.current, automaticAfter: .seconds(30), now: start + .seconds(30)) == [
                "hq"
            ]
        )
        // Fenced: no longer a candidate.
        var fenced = published.current.directory
        fenced.fencedSites = ["hq": "2026-12-03T10:00:00.000Z"]
        published.replaceDirectory(fenced)
        #expect(
            guardian.candidates(state: published.current, automaticAfter: .seconds(30), now: start + .seconds(40))
                .isEmpty)
    }

    @Test func noSiteFailsOverWhenNoOtherSiteServes() {
        var guardian = SiteGuard()
        var topology = Self.topology
        for index in topology.pools.indices { topology.pools[index].check = Check(kind: .tcp, port: 5061) }
        let published = PublishedState(topology: topology)
        let start = ContinuousClock.now
        for pool in topology.pools {
            for server in pool.servers {
                published.setHealth(
                    ServerHealth(status: .down, since: start, lastResult: "refused"),
                    for: ProbeKey(server: ServerKey(pool: pool.name, server: server.name), port: 5061))
            }
        }
        _ = guardian.candidates(state: published.current, automaticAfter: .seconds(1), now: start)
        #expect(
            guardian.candidates(state: published.current, automaticAfter: .seconds(1), now: start + .seconds(5)).isEmpty
        )
    }
}
