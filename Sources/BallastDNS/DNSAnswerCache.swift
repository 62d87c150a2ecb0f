import NIOCore

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
        var answers: [ByteBuffer]
        var next: Int
    }

    /// Slots in the table, a power of two.
    static let capacity = 1024
    /// Most orders kept of one answer.
    static let maxRotations = 8

    private var version: UInt64 = 0
    private var slots: [Slot?] = Array(repeating: nil, count: Self.capacity)

    /// The answer to `query`, its ID set to the query's, if one was kept for `version`.
    mutating func answer(to query: ByteBuffer, version: UInt64) -> ByteBuffer? {
        guard version == self.version, query.readableBytes >= 12 else { return nil }
        return query.withUnsafeReadableBytes { bytes -> ByteBuffer? in
            let keyBytes = UnsafeRawBufferPointer(rebasing: bytes[2...])
            let hash = Self.hash(keyBytes)
            let index = Int(truncatingIfNeeded: hash) & (Self.capacity - 1)
            guard let slot = slots[index], slot.hash == hash, slot.key.count == keyBytes.count,
                slot.key.withUnsafeBytes({ memcmp($0.baseAddress!, keyBytes.baseAddress!, keyBytes.count) == 0 })
            else { return nil }
            var answer = slot.answers[slot.next]
            if slot.answers.count > 1 {
                slots[index]!.next = (slot.next + 1) % slot.answers.count
            }
            answer.setBytes(UnsafeRawBufferPointer(rebasing: bytes[0..<2]), at: answer.readerIndex)
            return answer
        }
    }

    /// Keeps the answers to `query`, which was just answered with turn `served`; `answer(turn)`
    /// encodes it with the given turn. Every order of the cycle is kept under its own turn (turn 0
    /// first, until an order repeats it), and the next answer served is the order after `served`'s,
    /// so that a name cycles through every order whether it is answered from here or not.
    mutating func store(
        query: ByteBuffer, version: UInt64, allocator: ByteBufferAllocator, served: Int, answer: (Int) -> [UInt8]?
    ) {
        guard query.readableBytes >= 12 else { return }
        if version != self.version {
            slots = Array(repeating: nil, count: Self.capacity)
            self.version = version
        }
        guard let first = answer(0) else { return }
        var answers = [allocator.buffer(bytes: first)]
        for turn in 1..<Self.maxRotations {
            guard let next = answer(turn), next[2...] != first[2...] else { break }
            answers.append(allocator.buffer(bytes: next))
        }
        let key = query.withUnsafeReadableBytes { Array($0[2...]) }
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
