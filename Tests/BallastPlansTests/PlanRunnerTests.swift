import BallastCore
import BallastPlans
import BallastStore
import BallastTestSupport
import Foundation
import Logging
import Synchronization
import Testing

/// Plans applied against a real store, SQLite and PostgreSQL: the whole failover and failback,
/// resuming after a crash, refusing steps out of order and changes within a site's hold-down.
struct PlanRunnerTests {
    private func runner(
        _ fixture: StoreFixture, holdDown: Duration = .zero, nodeFollows: PlanRunner.NodeFollows? = nil
    ) -> PlanRunner {
        var logger = Logger(label: "plan-test")
        logger.logLevel = .critical
        return PlanRunner(
            store: fixture.store, topology: PlanFixture.topology(folder: fixture.folder, holdDown: holdDown),
            logger: logger, nodeFollows: nodeFollows)
    }

    /// A node slow to follow warns, and the lists a move and an activation keep stay readable:
    /// the failback still finds whom and what to bring home (the warning once broke the list).
    @Test func aSlowNodeWarnsAndTheFailbackStillReadsTheLists() async throws {
        let fixture = try await StoreFixture.make(.sqlite)
        let store = fixture.store
        try await PlanFixture.seed(store, users: 6)
        let topology = PlanFixture.topology(folder: fixture.folder)
        let plan = try PlanBuilder.failover(site: "hq", topology: topology, directory: try await store.snapshot())
        try await store.save(plan)
        let lines = Mutex<[String]>([])
        let slow = runner(fixture, nodeFollows: { "the node serves revision 3, not 4, after 5s" })
        let applied = try await slow.apply(try #require(try await store.planRecord(id: plan.id))) { line in
            lines.withLock { $0.append(line) }
        }
        #expect(applied.status == .applied)
        #expect(lines.withLock { $0 }.contains { $0.contains("warning: the node serves revision 3") })
        let fence = try #require(plan.steps.first { $0.action == .fenceSite("hq") })
        #expect(
            applied.steps[fence.number]?.result.hasSuffix("; warning: the node serves revision 3, not 4, after 5s")
                == true)
        let move = try #require(plan.steps.first { $0.action == .moveUsers(from: "pool-hq", to: "pool-dr") })
        #expect(StepResult.listed(applied.steps[move.number]?.result ?? "", by: move.action)?.users?.count == 4)

        let back = try PlanBuilder.failback(site: "hq", after: plan, directory: try await store.snapshot())
        try await store.save(back)
        let returned = try await slow.apply(try #require(try await store.planRecord(id: back.id))) { _ in }
        #expect(returned.status == .applied)
        let directory = try await store.snapshot()
        #expect(directory.users.filter { $0.homePool == "pool-hq" }.count == 4)
        #expect(directory.database(named: "DB01")?.active == "EX1")
        await fixture.close()
    }

    @Test(arguments: [SQLDialect.sqlite, .postgres])
    func failoverThenFailbackKeepsWhatChangedDuringDR(_ dialect: SQLDialect) async throws {
        let fixture = try await StoreFixture.make(dialect)
        let store = fixture.store
        try await PlanFixture.seed(store)
        try await store.backup(into: "\(fixture.folder)/backups", realm: "contoso.com")
        // The incident: u0's contact list is lost with the site.
        try await store.apply([.setContacts(sipURI: "sip:u0@contoso.com", contacts: [])], actor: "incident")
        let topology = PlanFixture.topology(folder: fixture.folder)
        let plan = try PlanBuilder.failover(site: "hq", topology: topology, directory: try await store.snapshot())
        try await store.save(plan)
        let log = Mutex<[String]>([])
        let applied = try await runner(fixture).apply(try #require(try await store.planRecord(id: plan.id))) { line in
            log.withLock { $0.append(line) }
        }
        #expect(applied.status == .applied)
        #expect(applied.statuses.values.allSatisfy { $0 == .done || $0 == .skipped })
        #expect(applied.statuses[1] == (dialect == .sqlite ? .skipped : .done))
        var directory = try await store.snapshot()
        #expect(directory.isFenced(site: "hq"))
        #expect(directory.users.allSatisfy { $0.homePool == "pool-dr" })
        #expect(directory.database(named: "DB01")?.active == "EX3")
        #expect(directory.user(sipURI: "sip:u0@contoso.com")?.contacts == ["sip:friend0@contoso.com"])
        #expect(applied.steps[5]?.result.contains("1 contact lists restored") == true)
        let history = try await store.history(subject: "sip:u1@contoso.com", limit: 1)
        #expect(history.first?.actor == "plan \(plan.id) step 3")

        // During DR: u1's contacts change, u4 is homed elsewhere by hand.
        try await store.apply(
            [.setContacts(sipURI: "sip:u1@contoso.com", contacts: ["sip:new@contoso.com"])], actor: "user")
        try await store.apply([.setHome(sipURI: "sip:u4@contoso.com", pool: "pool-other")], actor: "operator")
        let failover = try #require(try await store.planRecord(kind: .failover, site: "hq", status: .applied))
        let back = try PlanBuilder.failback(site: "hq", after: failover.plan, directory: try await store.snapshot())
        try await store.save(back)
        let returned = try await runner(fixture).apply(try #require(try await store.planRecord(id: back.id))) { _ in }
        #expect(returned.status == .applied)
        directory = try await store.snapshot()
        #expect(!directory.isFenced(site: "hq"))
        #expect(directory.user(sipURI: "sip:u0@contoso.com")?.homePool == "pool-hq")
        #expect(directory.user(sipURI: "sip:u2@contoso.com")?.homePool == "pool-dr")
        #expect(directory.user(sipURI: "sip:u4@contoso.com")?.homePool == "pool-other")
        #expect(directory.user(sipURI: "sip:u1@contoso.com")?.contacts == ["sip:new@contoso.com"])
        #expect(directory.database(named: "DB01")?.active == "EX1")
        #expect(directory.database(named: "DB02")?.active == "EX3")
        await fixture.close()
    }

    @Test(arguments: [SQLDialect.sqlite, .postgres])
    func anInterruptedMoveResumesWithTheSameUsers(_ dialect: SQLDialect) async throws {
        let fixture = try await StoreFixture.make(dialect)
        let store = fixture.store
        try await PlanFixture.seed(store)
        let plan = try PlanBuilder.failover(
            site: "hq", topology: PlanFixture.topology(folder: fixture.folder), directory: try await store.snapshot())
        try await store.save(plan)
        _ = try await runner(fixture).apply(try #require(try await store.planRecord(id: plan.id)), only: 1) { _ in }
        _ = try await runner(fixture).apply(try #require(try await store.planRecord(id: plan.id)), only: 2) { _ in }
        // A crash in step 3: its list written, five users moved, the step left running.
        let list = (try await store.snapshot()).users.filter { $0.homePool == "pool-hq" }.map(\.sipURI)
        let json = String(decoding: try JSONEncoder().encode(list), as: UTF8.self)
        try await store.record(plan: plan.id, step: 3, status: .running, result: json, planStatus: .applying)
        try await store.apply(list.prefix(5).map { .setHome(sipURI: $0, pool: "pool-dr") }, actor: "crashed run")
        // Out of order: step 5 before 3 and 4 finish.
        await #expect(throws: PlanRunner.Refusal.self) {
            _ = try await runner(fixture).apply(try #require(try await store.planRecord(id: plan.id)), only: 5) { _ in }
        }
        let resumed = try await runner(fixture).apply(try #require(try await store.planRecord(id: plan.id))) { _ in }
        #expect(resumed.status == .applied)
        #expect(resumed.steps[3]?.result == json)
        // The step log keeps the crashed run's record of step 3 as well as the resumed run's.
        let log = try await store.stepLog(plan: plan.id).filter { $0.step == 3 }
        #expect(log.first?.status == "running" && log.first?.result == json && log.first?.runner == "")
        #expect(log.last?.status == "done" && log.last?.runner.hasPrefix("runner@") == true, "\(log)")
        #expect(try await store.snapshot().users.allSatisfy { $0.homePool == "pool-dr" })
        // Applying again changes nothing and says so.
        let again = try await runner(fixture).apply(resumed) { _ in }
        #expect(again.statuses == resumed.statuses)
        await fixture.close()
    }

    /// The rule when an operator moves a user while a failover moves the same users: the
    /// operator's move wins. The plan moves a user only while the user is still homed at the lost
    /// pool, checked in the transaction that moves them; both changes are in the history (the
    /// plan's only where it moved someone), and the failback names whom it left where they are.
    @Test(arguments: [SQLDialect.sqlite, .postgres])
    func anOperatorsMoveDuringAFailoverWins(_ dialect: SQLDialect) async throws {
        let fixture = try await StoreFixture.make(dialect)
        let store = fixture.store
        try await PlanFixture.seed(store)
        try await store.backup(into: "\(fixture.folder)/backups", realm: "contoso.com")
        let plan = try PlanBuilder.failover(
            site: "hq", topology: PlanFixture.topology(folder: fixture.folder), directory: try await store.snapshot())
        try await store.save(plan)
        _ = try await runner(fixture).apply(try #require(try await store.planRecord(id: plan.id)), only: 1) { _ in }
        _ = try await runner(fixture).apply(try #require(try await store.planRecord(id: plan.id)), only: 2) { _ in }
        // Step 3 has listed its users (u0 among them) when the operator moves u0 by hand.
        let list = (try await store.snapshot()).users.filter { $0.homePool == "pool-hq" }.map(\.sipURI)
        #expect(list.contains("sip:u0@contoso.com"))
        try await store.record(
            plan: plan.id, step: 3, status: .running,
            result: String(decoding: try JSONEncoder().encode(list), as: UTF8.self),
            planStatus: .applying)
        try await store.apply([.setHome(sipURI: "sip:u0@contoso.com", pool: "pool-other")], actor: "operator")
        let applied = try await runner(fixture).apply(try #require(try await store.planRecord(id: plan.id))) { _ in }
        #expect(applied.status == .applied)
        let directory = try await store.snapshot()
        #expect(directory.user(sipURI: "sip:u0@contoso.com")?.homePool == "pool-other")
        #expect(directory.user(sipURI: "sip:u1@contoso.com")?.homePool == "pool-dr")
        let u0 = try await store.history(subject: "sip:u0@contoso.com", limit: 10)
        #expect(u0.filter { $0.action == "user.home" }.map(\.actor) == ["operator"], "\(u0)")
        let u1 = try await store.history(subject: "sip:u1@contoso.com", limit: 10)
        #expect(u1.first?.actor == "plan \(plan.id) step 3" && u1.first?.detail == "home=pool-dr (from pool-hq)")

        let failover = try #require(try await store.planRecord(id: plan.id))
        let back = try PlanBuilder.failback(site: "hq", after: failover.plan, directory: try await store.snapshot())
        try await store.save(back)
        let returned = try await runner(fixture).apply(try #require(try await store.planRecord(id: back.id))) { _ in }
        let report = returned.steps.values.map(\.result).first { $0.contains("home at pool-hq") } ?? ""
        #expect(
            report.contains("left where they are: sip:u0@contoso.com (homed at pool-other by an operator)"), "\(report)"
        )
        #expect(try await store.snapshot().user(sipURI: "sip:u0@contoso.com")?.homePool == "pool-other")
        await fixture.close()
    }

    @Test func aSitesFenceChangesOncePerHoldDownUnlessForced() async throws {
        let fixture = try await StoreFixture.make(.sqlite)
        let store = fixture.store
        try await PlanFixture.seed(store, users: 3)
        let topology = PlanFixture.topology(folder: fixture.folder, holdDown: .seconds(600))
        let plan = try PlanBuilder.failover(site: "hq", topology: topology, directory: try await store.snapshot())
        try await store.save(plan)
        _ = try await runner(fixture, holdDown: .seconds(600)).apply(
            try #require(try await store.planRecord(id: plan.id))
        ) { _ in }
        let failover = try #require(try await store.planRecord(id: plan.id))
        let back = try PlanBuilder.failback(site: "hq", after: failover.plan, directory: try await store.snapshot())
        try await store.save(back)
        do {
            _ = try await runner(fixture, holdDown: .seconds(600)).apply(
                try #require(try await store.planRecord(id: back.id))
            ) { _ in }
            Issue.record("the fence changed again within the hold-down")
        } catch let refusal as PlanRunner.Refusal {
            #expect(refusal.description.contains("within its hold-down"))
        }
        #expect(try await store.snapshot().isFenced(site: "hq"))
        let forced = try await runner(fixture, holdDown: .seconds(600)).apply(
            try #require(try await store.planRecord(id: back.id)), force: true
        ) { _ in }
        #expect(forced.status == .applied)
        await fixture.close()
    }
}
