import BallastTestSupport
import Dispatch
import Synchronization
import Testing

@testable import BallastStore

/// The store's deadline holds even against an operation that ignores cancellation.
struct DeadlineTests {
    struct TimedOut: Error {}
    struct Failed: Error {}

    /// Waits ten seconds whatever happens, as a pool waiting for a connection that ignores
    /// cancellation would (without spinning).
    final class Flag: Sendable {
        private let value = Mutex(false)
        func set() { value.withLock { $0 = true } }
        var isSet: Bool { value.withLock { $0 } }
    }

    static func stuck(_ ended: Flag, started: Flag = Flag()) async -> Int {
        started.set()
        return await withCheckedContinuation { continuation in
            DispatchQueue.global().asyncAfter(deadline: .now() + 10) {
                ended.set()
                continuation.resume(returning: 1)
            }
        }
    }

    @Test func anOperationThatFinishesInTimeGivesItsResultOrError() async throws {
        #expect(try await Deadline.run(.seconds(5), timeout: { TimedOut() }) { 42 } == 42)
        await #expect(throws: Failed.self) {
            try await Deadline.run(.seconds(5), timeout: { TimedOut() }) { () throws -> Int in throw Failed() }
        }
    }

    @Test func theCallerIsAnsweredAtTheDeadlineEvenWhenTheOperationIgnoresCancellation() async throws {
        let ended = Flag()
        await #expect(throws: TimedOut.self) {
            try await Deadline.run(.milliseconds(200), timeout: { TimedOut() }) { await Self.stuck(ended) }
        }
        // Answered while the operation still hangs.
        #expect(!ended.isSet)
    }

    @Test func aCancelledCallerIsAnsweredAtOnce() async throws {
        let ended = Flag()
        let started = Flag()
        let call = Task {
            try await Deadline.run(.seconds(30), timeout: { TimedOut() }) { await Self.stuck(ended, started: started) }
        }
        #expect(await eventually { started.isSet })
        call.cancel()
        await #expect(throws: CancellationError.self) { try await call.value }
        #expect(!ended.isSet)
    }
}
