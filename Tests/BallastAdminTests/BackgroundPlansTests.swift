import BallastTestSupport
import Logging
import ServiceLifecycle
import Synchronization
import Testing

@testable import BallastAdmin

/// Plans applied in the background belong to the node's service group: they run while it runs,
/// and a shutdown cancels the ones still running and waits for them.
struct BackgroundPlansTests {
    /// What the plans in a test did.
    final class Journal: Sendable {
        let events = Mutex<[String]>([])
        func add(_ event: String) { events.withLock { $0.append(event) } }
        var all: [String] { events.withLock { $0 } }
    }

    @Test func aShutdownCancelsTheRunningPlansAndWaitsForThemAndRefusesNewOnes() async throws {
        let plans = BackgroundPlans()
        let journal = Journal()
        // Queued before the group runs: started once it does.
        #expect(plans.start { journal.add("quick") })
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [.init(service: plans)], logger: Logger(label: "test")))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            #expect(
                plans.start {
                    journal.add("long started")
                    // A plan step waiting: ends only when cancelled (bounded at 60 s).
                    try? await Task.sleep(for: .seconds(60))
                    journal.add(Task.isCancelled ? "long cancelled" : "long ran out")
                })
            // How soon is not the point: beside the parallel suites the group's first tasks once
            // took over 5 s to be scheduled.
            #expect(
                await eventually(timeout: .seconds(30)) {
                    journal.all.contains("quick") && journal.all.contains("long started")
                }, "\(journal.all)")
            await group.triggerGracefulShutdown()
            // The group's run returns only after the plan ended.
            try await tasks.next()
            #expect(journal.all.last == "long cancelled", "\(journal.all)")
        }
        #expect(!plans.start { journal.add("too late") })
    }
}
