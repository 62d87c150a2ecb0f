#if canImport(Glibc)
    import Glibc
#endif

/// Encoded answers by query, for one state version: a repeated question costs a hash, a
/// compare and a copy, not a parse, a resolution and an encoding. Answers whose order turns
/// are kept in every order, served in turn.
///
/// The table is direct-mapped: a query's hash picks one slot, and a new query whose hash lands
/// on a taken slot replaces what was there. A busy authoritative server sees few distinct
/// questions, so this keeps the hot path to one FNV-1a pass over the query and one compare,
/// with no hashing through `Hasher` and no dictionary writes.
struct DNSAnswerCache {
    private struct Slot {
        var hash: UInt64
        /// The query without its ID: flags, question and OPT.
        var key: [UInt8]
        var answers: [[UInt8]]
        var next: Int
    }

    /// Slots in the table, a power of two.
    static let capacity = 1024
    /// Most orders kept of one answer.
    static let maxRotations = 8

    private var version: UInt64 = 0
    private var slots: [Slot?] = Array(repeating: nil, count: Self.capacity)

    /// Writes the answer to `query` into `out`, its ID set to the query's, if one was kept for
    /// `version` and fits; returns its length, 0 when none.
    mutating func answer(
        to query: UnsafeRawBufferPointer, version: UInt64, into out: UnsafeMutableRawBufferPointer
    ) -> Int {
        guard version == self.version, query.count >= 12 else { return 0 }
        let keyBytes = UnsafeRawBufferPointer(rebasing: query[2...])
        let hash = Self.hash(keyBytes)
        let index = Int(truncatingIfNeeded: hash) & (Self.capacity - 1)
        guard let slot = slots[index], slot.hash == hash, slot.key.count == keyBytes.count,
            slot.key.withUnsafeBytes({ memcmp($0.baseAddress!, keyBytes.baseAddress!, keyBytes.count) == 0 })
        else { return 0 }
        let answer = slot.answers[slot.next]
        guard answer.count <= out.count else { return 0 }
        if slot.answers.count > 1 {
            slots[index]!.next = (slot.next + 1) % slot.answers.count
        }
        answer.withUnsafeBytes { out.copyMemory(from: $0) }
        out[0] = query[0]
        out[1] = query[1]
        return answer.count
    }

    /// Keeps the answers to `query`, which was just answered with turn `served`; `answer(turn)`
    /// encodes it with the given turn. Every order of the cycle is kept under its own turn (turn 0
    /// first, until an order repeats it), and the next answer served is the order after `served`'s,
    /// so that a name cycles through every order whether it is answered from here or not.
    mutating func store(query: UnsafeRawBufferPointer, version: UInt64, served: Int, answer: (Int) -> [UInt8]?) {
        guard query.count >= 12 else { return }
        if version != self.version {
            slots = Array(repeating: nil, count: Self.capacity)
            self.version = version
        }
        guard let first = answer(0), first.count >= 2 else { return }
        var answers = [first]
        for turn in 1..<Self.maxRotations {
            guard let next = answer(turn), next.count >= 2, next[2...] != first[2...] else { break }
            answers.append(next)
        }
        let key = Array(query[2...])
        let hash = key.withUnsafeBytes { Self.hash($0) }
        slots[Int(truncatingIfNeeded: hash) & (Self.capacity - 1)] = Slot(
            hash: hash, key: key, answers: answers, next: (served & Int.max &+ 1) % answers.count)
    }

    /// FNV-1a, 64 bits: cheap on the few dozen bytes of a question.
    static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
        }
        return hash
    }
}
