import Testing

@testable import BallastDNS

/// The per-loop cache of encoded answers: hits carry the query's ID, a new state version
/// empties it, turning answers come in turn, and odd input never trips it.
@Suite struct DNSAnswerCacheTests {
    func query(id: UInt16, name: String) -> [UInt8] {
        var bytes = [UInt8(id >> 8), UInt8(id & 0xff), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]
        for label in name.split(separator: ".") {
            bytes.append(UInt8(label.utf8.count))
            bytes += Array(label.utf8)
        }
        return bytes + [0, 0, 1, 0, 1]
    }

    /// An "answer" that is the query with a marker byte after it, so that hits can be told apart.
    func answer(_ query: [UInt8], marker: UInt8) -> [UInt8] { query + [marker] }

    /// What the cache answers to `query`, through a buffer of `room` bytes.
    func hit(_ cache: inout DNSAnswerCache, _ query: [UInt8], version: UInt64, room: Int = 65_536) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: room)
        let length = query.withUnsafeBytes { asked in
            out.withUnsafeMutableBytes { cache.answer(to: asked, version: version, into: $0) }
        }
        return length == 0 ? nil : Array(out[0..<length])
    }

    func store(_ cache: inout DNSAnswerCache, _ query: [UInt8], version: UInt64, served: Int, answer: (Int) -> [UInt8]?)
    {
        query.withUnsafeBytes { cache.store(query: $0, version: version, served: served, answer: answer) }
    }

    @Test func aRepeatedQuestionIsAnsweredWithItsOwnID() {
        var cache = DNSAnswerCache()
        let first = query(id: 0x1111, name: "pool01.contoso.com")
        #expect(hit(&cache, first, version: 1) == nil)
        store(&cache, first, version: 1, served: 0) { $0 == 0 ? answer(first, marker: 7) : nil }
        let again = query(id: 0xBEEF, name: "pool01.contoso.com")
        #expect(hit(&cache, again, version: 1) == [0xBE, 0xEF] + answer(first, marker: 7)[2...])
        // The kept copy is not changed by the ID written into a hit.
        #expect(hit(&cache, first, version: 1) == answer(first, marker: 7))
        // An answer that does not fit the room given is not written.
        #expect(hit(&cache, first, version: 1, room: first.count) == nil)
    }

    @Test func anotherQuestionOrAnotherVersionMisses() {
        var cache = DNSAnswerCache()
        let first = query(id: 1, name: "pool01.contoso.com")
        store(&cache, first, version: 1, served: 0) { _ in answer(first, marker: 1) }
        #expect(hit(&cache, query(id: 1, name: "pool02.contoso.com"), version: 1) == nil)
        #expect(hit(&cache, query(id: 1, name: "pool01.contoso.co"), version: 1) == nil)
        #expect(hit(&cache, first, version: 2) == nil)
        // Storing for a new version empties what the old one kept.
        let other = query(id: 1, name: "www.contoso.com")
        store(&cache, other, version: 2, served: 0) { _ in answer(other, marker: 2) }
        #expect(hit(&cache, first, version: 2) == nil)
        #expect(hit(&cache, other, version: 2) != nil)
    }

    @Test func turningAnswersAreServedInTurn() {
        var cache = DNSAnswerCache()
        let asked = query(id: 9, name: "pool01.contoso.com")
        // Three orders, then the first again: three distinct answers are kept.
        store(&cache, asked, version: 1, served: 0) { answer(asked, marker: UInt8($0 % 3)) }
        let markers = (0..<6).compactMap { _ in hit(&cache, asked, version: 1)?.last }
        // The miss that stored them answered with turn 0; hits go on from turn 1.
        #expect(markers == [1, 2, 0, 1, 2, 0])
        // A miss answered with turn 5 (the sixth asking of the name): the next order is turn 6's.
        var later = DNSAnswerCache()
        store(&later, asked, version: 1, served: 5) { answer(asked, marker: UInt8($0 % 3)) }
        #expect((0..<3).compactMap { _ in hit(&later, asked, version: 1)?.last } == [0, 1, 2])
    }

    @Test func aQuestionThatLandsOnATakenSlotReplacesIt() {
        var cache = DNSAnswerCache()
        let names = (0..<(DNSAnswerCache.capacity * 2)).map { "host\($0).contoso.com" }
        for name in names {
            let asked = query(id: 1, name: name)
            store(&cache, asked, version: 1, served: 0) { _ in answer(asked, marker: 0) }
        }
        var hits = 0
        for name in names {
            let asked = query(id: 2, name: name)
            guard let found = hit(&cache, asked, version: 1) else { continue }
            hits += 1
            // A hit is always the answer to this very question, never a neighbour's.
            #expect(Array(found.dropFirst(2).dropLast()) == Array(asked.dropFirst(2)))
        }
        #expect(hits <= DNSAnswerCache.capacity)
        #expect(hits > DNSAnswerCache.capacity / 2)
    }

    @Test func shortAndRandomInputIsHarmless() {
        var cache = DNSAnswerCache()
        var generator = SystemRandomNumberGenerator()
        for length in 0..<12 {
            let short = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            store(&cache, short, version: 1, served: 0) { _ in [1, 2, 3] }
            #expect(hit(&cache, short, version: 1) == nil)
        }
        for _ in 0..<2_000 {
            let bytes = (0..<Int.random(in: 12...600, using: &generator)).map { _ in
                UInt8.random(in: 0...255, using: &generator)
            }
            if hit(&cache, bytes, version: 1) == nil {
                store(&cache, bytes, version: 1, served: 0) { _ in bytes + [0] }
            }
            #expect(hit(&cache, bytes, version: 1) == bytes + [0])
        }
    }
}
