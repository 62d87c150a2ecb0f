import Synchronization

/// Answers held back for a delay, across the process: bounded, so that delaying failed logins
/// cannot be turned into a way to hold memory.
final class DelayedAnswers: Sendable {
    static let shared = DelayedAnswers()
    /// Most answers held at once.
    static let limit = 10_000
    private let count = Atomic<Int>(0)

    func enter() -> Bool {
        if count.add(1, ordering: .relaxed).newValue > Self.limit {
            count.subtract(1, ordering: .relaxed)
            return false
        }
        return true
    }

    func leave() { count.subtract(1, ordering: .relaxed) }
}
