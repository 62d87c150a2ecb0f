import NIOCore

/// Encoded answers by query, for one state version: a repeated question costs a lookup and a
/// copy, not a parse, a resolution and an encoding. Answers whose order turns are kept in
/// every order, served in turn.
struct DNSAnswerCache {
    private struct Entry {
        var answers: [ByteBuffer]
        var next = 0
    }

    /// Most queries kept; the cache starts over beyond it.
    static let capacity = 10_000
    /// Most orders kept of one answer.
    static let maxRotations = 8

    private var version: UInt64 = 0
    /// Keyed by the query without its ID: flags, question and OPT.
    private var entries: [ByteBuffer: Entry] = [:]

    /// The answer to `query`, its ID set to the query's, if one was kept for `version`.
    mutating func answer(to query: ByteBuffer, version: UInt64) -> ByteBuffer? {
        guard version == self.version, let key = Self.key(query), var entry = entries[key],
            let id = query.getInteger(at: query.readerIndex, as: UInt16.self)
        else { return nil }
        var answer = entry.answers[entry.next]
        if entry.answers.count > 1 {
            entry.next = (entry.next + 1) % entry.answers.count
            entries[key] = entry
        }
        answer.setInteger(id, at: answer.readerIndex)
        return answer
    }

    /// Keeps the answers to `query`; `answer(rotation)` encodes it with the given turn.
    mutating func store(
        query: ByteBuffer, version: UInt64, allocator: ByteBufferAllocator, answer: (Int) -> [UInt8]?
    ) {
        guard let key = Self.key(query) else { return }
        if version != self.version || entries.count >= Self.capacity {
            entries = [:]
            self.version = version
        }
        guard let first = answer(0) else { return }
        var answers = [allocator.buffer(bytes: first)]
        for rotation in 1..<Self.maxRotations {
            guard let next = answer(rotation), next[2...] != first[2...] else { break }
            answers.append(allocator.buffer(bytes: next))
        }
        // The key is copied so that it holds none of the receive buffer.
        var owned = allocator.buffer(capacity: key.readableBytes)
        owned.writeImmutableBuffer(key)
        entries[owned] = Entry(answers: answers, next: answers.count > 1 ? 1 : 0)
    }

    private static func key(_ query: ByteBuffer) -> ByteBuffer? {
        guard query.readableBytes >= 12 else { return nil }
        return query.getSlice(at: query.readerIndex + 2, length: query.readableBytes - 2)
    }
}
