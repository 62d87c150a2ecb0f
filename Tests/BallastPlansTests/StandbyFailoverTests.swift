import BallastCore
import BallastPlans
import BallastStore
import BallastTestSupport
import Foundation
import Logging
import Testing

/// A PostgreSQL primary with a streaming hot standby (pg_basebackup -R), both real servers the
/// test starts: the primary is lost, reads go on from the standby, writes are refused, a failover
/// plan made meanwhile waits on local disk, its first step promotes the standby, and the old
/// primary, back with its old timeline, is never written again.
@Suite("PostgreSQL primary and standby")
struct StandbyFailoverTests {
    @Test
    func aFailoverPlanPromotesTheStandbyAndTheOldPrimaryIsNotWrittenAgain() async throws {
        let primary = try TestPostgres()
        defer { primary.remove() }
        let standby = try TestPostgres(standbyOf: primary)
        defer { standby.remove() }
        let folder = NSTemporaryDirectory() + "ballast-standby-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var logger = Logger(label: "standby-test")
        logger.logLevel = .critical
        let pendingFile = "\(folder)/node.pending-plan.json"
        // Beside the parallel suites a fresh server answered a write after the product's 3 s
        // once; what this test shows does not depend on how soon, and a stopped server refuses
        // at once whatever the deadline.
        let deadline: Duration = .seconds(30)

        let store = try await DirectoryStore.open(
            primary.url, standbys: [standby.url], pendingPlanFile: pendingFile, deadline: deadline, logger: logger)
        let onStandby = try await DirectoryStore.open(standby.url, deadline: deadline, logger: logger)
        try await store.migrate()
        try await PlanFixture.seed(store)
        try await store.backup(into: "\(folder)/backups", realm: "contoso.com")
        let revision = try await store.revision()
        // Writes went to the primary; the standby follows within a moment.
        #expect(
            await eventually(timeout: .seconds(15), every: .milliseconds(100)) {
                (try? await onStandby.revision()) == revision
            })
        await #expect(throws: StoreError.self) {
            try await onStandby.apply([.fenceSite("hq")], actor: "test")
        }

        // The primary's site is lost.
        primary.stop()
        let read = try await store.snapshot()
        #expect(read.revision == revision)
        #expect(read.users.count == 30)
        do {
            try await store.apply([.setContacts(sipURI: "sip:u1@contoso.com", contacts: [])], actor: "test")
            Issue.record("a write succeeded with only a standby answering")
        } catch {
            #expect(error.code == .readOnly)
            #expect(error.description.contains("is a standby (read-only)"), "\(error)")
            #expect(error.description.contains("ballast plan failover"), "\(error)")
        }

        // The plan is made while only the standby answers: it waits on local disk.
        let topology = PlanFixture.topology(folder: folder)
        let plan = try PlanBuilder.failover(site: "hq", topology: topology, directory: read)
        #expect(plan.steps.first?.action == .promoteStore)
        try await store.save(plan)
        #expect(FileManager.default.fileExists(atPath: pendingFile))
        let proposed = try #require(try await store.planRecord(kind: .failover, site: "hq"))
        #expect(proposed.plan.id == plan.id)
        #expect(proposed.status == .proposed)

        let applied = try await PlanRunner(store: store, topology: topology, logger: logger).apply(proposed) { _ in }
        #expect(applied.status == .applied)
        #expect(applied.steps[1]?.status == .done)
        #expect(applied.steps[1]?.result.contains("promoted the standby at 127.0.0.1:\(standby.port)") == true)
        #expect(applied.steps[1]?.startedAt != nil)
        #expect(!FileManager.default.fileExists(atPath: pendingFile))
        // Everything, the plan's own record included, is on the promoted server.
        let promoted = try await onStandby.snapshot()
        #expect(promoted.isFenced(site: "hq"))
        #expect(promoted.users.allSatisfy { $0.homePool == "pool-dr" })
        #expect(promoted.database(named: "DB01")?.active == "EX3")
        let kept = try #require(try await onStandby.planRecord(id: plan.id))
        #expect(kept.status == .applied)
        #expect(kept.steps[1]?.status == .done)
        #expect(
            try await onStandby.history(subject: "sip:u0@contoso.com", limit: 1).first?.actor
                == "plan \(plan.id) step 3")

        // The old primary comes back, still a primary of the old timeline: writes stay on the new one,
        // for this store and for one that starts afresh knowing both.
        try primary.start()
        try await store.apply(
            [.setContacts(sipURI: "sip:u1@contoso.com", contacts: ["sip:dr1@contoso.com"])], actor: "during DR")
        let fresh = try await DirectoryStore.open(
            primary.url, standbys: [standby.url], deadline: deadline, logger: logger)
        try await fresh.apply(
            [.setContacts(sipURI: "sip:u2@contoso.com", contacts: ["sip:dr2@contoso.com"])], actor: "during DR")
        let onOld = try await DirectoryStore.open(primary.url, deadline: deadline, logger: logger)
        let old = try await onOld.snapshot()
        #expect(old.revision == revision)
        #expect(old.user(sipURI: "sip:u1@contoso.com")?.contacts != ["sip:dr1@contoso.com"])
        let new = try await onStandby.snapshot()
        #expect(new.user(sipURI: "sip:u1@contoso.com")?.contacts == ["sip:dr1@contoso.com"])
        #expect(new.user(sipURI: "sip:u2@contoso.com")?.contacts == ["sip:dr2@contoso.com"])
        #expect(try await store.promoteIfStandby()?.contains("is already the primary") == true)
        // A node that starts now and only reads reads the new primary, not the old one listed first.
        let reader = try await DirectoryStore.open(
            primary.url, standbys: [standby.url], deadline: deadline, logger: logger)
        #expect(try await reader.snapshot().user(sipURI: "sip:u2@contoso.com")?.contacts == ["sip:dr2@contoso.com"])

        for opened in [store, onStandby, fresh, onOld, reader] { await opened.close() }
    }
}
