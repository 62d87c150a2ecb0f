/// Encoded answers by query, for one state version: a repeated question costs a lookup and a
/// copy, not a parse, a resolution and an encoding. Answers whose order turns are kept in
/// every order, served in turn.
struct DNSAnswerCache {
    private struct Entry {
        var answers: [[UInt8]]
        var next = 0
    }

    /// Most queries kept; the cache starts over beyond it.
    static let capacity = 10_000
    /// Most orders kept of one answer.
    static let maxRotations = 8

    private var version: UInt64 = 0
    private var entries: [ArraySlice<UInt8>: Entry] = [:]

    /// The answer to `query`, its ID set to the query's, if one was kept for `version`.
    mutating func answer(to query: [UInt8], version: UInt64) -> [UInt8]? {
        guard version == self.version, query.count >= 12, var entry = entries[query[2...]] else { return nil }
        var answer = entry.answers[entry.next]
        if entry.answers.count > 1 {
            entry.next = (entry.next + 1) % entry.answers.count
            entries[query[2...]] = entry
        }
        answer[0] = query[0]
        answer[1] = query[1]
        return answer
    }

    /// Keeps the answers to `query`; `answer(rotation)` encodes it with the given turn.
    mutating func store(query: [UInt8], version: UInt64, answer: (Int) -> [UInt8]?) {
        if version != self.version || entries.count >= Self.capacity {
            entries = [:]
            self.version = version
        }
        guard let first = answer(0) else { return }
        var answers = [first]
        for rotation in 1..<Self.maxRotations {
            guard let next = answer(rotation), Array(next[2...]) != Array(first[2...]) else { break }
            answers.append(next)
        }
        entries[query[2...]] = Entry(answers: answers, next: answers.count > 1 ? 1 : 0)
    }
}
