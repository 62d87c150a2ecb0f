import BallastCore
import BallastStore
import BallastTestSupport
import Foundation
import Testing

/// The lease that lets one runner at a time apply a plan, on SQLite and PostgreSQL.
struct PlanLeaseTests {
    @Test(arguments: [SQLDialect.sqlite, .postgres])
    func oneOwnerAtATimeUntilReleasedOrExpired(_ dialect: SQLDialect) async throws {
        let fixture = try await StoreFixture.make(dialect)
        let store = fixture.store
        try await PlanFixture.seed(store, users: 3)
        let plan = try PlanBuilder.failover(
            site: "hq", topology: PlanFixture.topology(folder: fixture.folder),
            directory: try await store.snapshot())
        try await store.save(plan)
        let first = PlanLease(plan: plan.id, owner: "node@elsewhere pid 1 #aaaaaa", term: .seconds(30))
        let second = PlanLease(plan: plan.id, owner: "cli:ops@elsewhere pid 2 #bbbbbb", term: .seconds(30))
        try await store.take(first)
        try await store.take(first)
        await #expect(throws: StoreError.self) { try await store.take(second) }
        do {
            try await store.take(second)
        } catch {
            #expect(
                error.code == .busy && error.message.contains("is being applied by node@elsewhere pid 1"), "\(error)")
        }
        // A write guarded by a lease the writer does not hold is refused, and changes nothing.
        let before = try await store.revision()
        await #expect(throws: StoreError.self) {
            try await store.apply(
                [.setHome(sipURI: "sip:u0@contoso.com", pool: "pool-dr")], actor: "second", lease: second)
        }
        #expect(try await store.revision() == before)
        await store.release(first)
        try await store.take(second)
        // An expired lease is taken by anyone.
        let later = Date().addingTimeInterval(31)
        try await store.take(first, now: later)
        await fixture.close()
    }

    @Test func aDeadRunnerOfThisHostIsNoticed() throws {
        let host = ProcessInfo.processInfo.hostName
        #expect(!PlanLease.diedHere(PlanLease.processOwner("cli:ops")), "this process runs")
        #expect(PlanLease.diedHere("cli:ops@\(host) pid 2147483000 #abcdef"))
        #expect(
            !PlanLease.diedHere("cli:ops@another-host pid 2147483000 #abcdef"),
            "another host's process cannot be seen from here")
        for garbage in [
            "", "pid", "x pid", "x@\(host) pid -1 #a", "x@\(host) pid 0 #a", "x@\(host) pid abc #a", "@ pid 5",
        ] {
            #expect(!PlanLease.diedHere(garbage), "\(garbage)")
        }
    }
}
