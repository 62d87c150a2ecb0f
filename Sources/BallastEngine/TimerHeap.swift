/// A min-heap of deadlines for one engine thread. Entries are not removed when a deadline
/// changes; the owner ignores entries that no longer match (lazy deletion), which keeps
/// re-arming an idle timer as cheap as one push.
public struct TimerHeap {
    /// One deadline of the connection in `slot`, valid while the slot's generation matches.
    public struct Entry {
        public var deadline: UInt64
        public var slot: Int
        public var generation: UInt32

        public init(deadline: UInt64, slot: Int, generation: UInt32) {
            self.deadline = deadline
            self.slot = slot
            self.generation = generation
        }
    }

    private var entries: [Entry] = []

    public init() {}

    public var isEmpty: Bool { entries.isEmpty }
    public var nextDeadline: UInt64? { entries.first?.deadline }
    public var count: Int { entries.count }

    public mutating func push(_ entry: Entry) {
        entries.append(entry)
        var child = entries.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard entries[child].deadline < entries[parent].deadline else { break }
            entries.swapAt(child, parent)
            child = parent
        }
    }

    /// Replaces every entry with `live`, in heap order: drops the stale entries that lazy
    /// deletion leaves behind (a closed connection's idle timer would otherwise wait out
    /// its whole idle timeout in the heap).
    public mutating func rebuild(from live: [Entry]) {
        entries = live.sorted { $0.deadline < $1.deadline }
    }

    /// Removes and returns the earliest entry due at `now`, if any.
    public mutating func popDue(now: UInt64) -> Entry? {
        guard let first = entries.first, first.deadline <= now else { return nil }
        let last = entries.removeLast()
        if !entries.isEmpty {
            entries[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1
                let right = left + 1
                var smallest = parent
                if left < entries.count && entries[left].deadline < entries[smallest].deadline { smallest = left }
                if right < entries.count && entries[right].deadline < entries[smallest].deadline { smallest = right }
                if smallest == parent { break }
                entries.swapAt(parent, smallest)
                parent = smallest
            }
        }
        return first
    }
}

extension Duration {
    /// Whole milliseconds, as the engine's clock counts them; 0 for a negative duration.
    public var milliseconds: UInt64 {
        let (seconds, attoseconds) = components
        return UInt64(max(0, seconds)) * 1000 + UInt64(max(0, attoseconds) / 1_000_000_000_000_000)
    }
}
