import Logging
import ServiceLifecycle
import Synchronization
import Testing

@testable import BallastNode

/// A slot of the node's service group: a replacement stops the old service before the new one
/// runs, a stopped slot runs nothing more, and a group of slots stops the last started first.
struct ServiceSlotTests {
    /// What the recording services did, in order.
    final class Events: Sendable {
        private let list = Mutex<[String]>([])
        func add(_ event: String) { list.withLock { $0.append(event) } }
        var all: [String] { list.withLock { $0 } }
    }

    /// Says when it starts and when it returns; throws at once when `failing`.
    struct Recorder: Service {
        let name: String
        let events: Events
        var failing = false

        func run() async throws {
            events.add("\(name) started")
            if failing {
                events.add("\(name) failed")
                throw Failure()
            }
            while !Task.isCancelled { try? await Task.sleep(for: .milliseconds(10)) }
            events.add("\(name) stopped")
        }
    }

    struct Failure: Error {}

    static let logger = Logger(label: "slot-test")

    /// Runs `slots` in a group for the length of `body`, then shuts the group down gracefully.
    func withGroup(_ slots: [ServiceSlot], _ body: () async throws -> Void) async throws {
        let group = ServiceGroup(slots: slots, logger: Self.logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            try await body()
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    @Test func aReplacementStopsTheOldServiceBeforeTheNewOneRuns() async throws {
        let events = Events()
        let slot = ServiceSlot("test", running: Recorder(name: "a", events: events), logger: Self.logger)
        try await withGroup([slot]) {
            await slot.replace(with: Recorder(name: "b", events: events))
            #expect(events.all.prefix(2) == ["a started", "a stopped"], "\(events.all)")
            await slot.replace(with: nil)
            #expect(events.all == ["a started", "a stopped", "b started", "b stopped"])
        }
        #expect(events.all.count == 4, "an empty slot runs nothing")
    }

    @Test func aServiceThatFailsLeavesTheSlotUsable() async throws {
        let events = Events()
        let slot = ServiceSlot("test", logger: Self.logger)
        try await withGroup([slot]) {
            await slot.replace(with: Recorder(name: "bad", events: events, failing: true))
            await slot.replace(with: Recorder(name: "good", events: events))
        }
        #expect(events.all == ["bad started", "bad failed", "good started", "good stopped"])
    }

    @Test func aGroupOfSlotsStopsTheLastStartedFirstAndAStoppedSlotRunsNothing() async throws {
        let events = Events()
        let first = ServiceSlot("first", running: Recorder(name: "first", events: events), logger: Self.logger)
        let second = ServiceSlot("second", running: Recorder(name: "second", events: events), logger: Self.logger)
        let third = ServiceSlot("third", logger: Self.logger)
        try await withGroup([first, second, third]) {
            await third.replace(with: Recorder(name: "third", events: events))
        }
        #expect(Array(events.all.suffix(3)) == ["third stopped", "second stopped", "first stopped"], "\(events.all)")
        await third.replace(with: Recorder(name: "late", events: events))
        #expect(!events.all.contains("late started"))
    }
}
