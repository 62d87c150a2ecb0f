import Dispatch
import Synchronization

/// Answers held back for a delay, across the process: bounded, so that delaying failed logins
/// cannot be turned into a way to hold memory.
final class DelayedAnswers: Sendable {
    static let shared = DelayedAnswers()
    /// Most answers held at once.
    static let limit = 10_000
    private let count = Atomic<Int>(0)

    /// Runs `send` after `delay`, unless `limit` answers are held already; false then (the
    /// caller drops the answer, or the connection).
    func after(_ delay: Duration, _ send: @escaping @Sendable () -> Void) -> Bool {
        guard enter() else { return false }
        let (seconds, attoseconds) = delay.components
        let nanoseconds = Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)
        DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(nanoseconds)) { [self] in
            leave()
            send()
        }
        return true
    }

    private func enter() -> Bool {
        if count.add(1, ordering: .relaxed).newValue > Self.limit {
            count.subtract(1, ordering: .relaxed)
            return false
        }
        return true
    }

    private func leave() { count.subtract(1, ordering: .relaxed) }
}
