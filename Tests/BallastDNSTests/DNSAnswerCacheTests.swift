import NIOCore
import Testing

@testable import BallastDNS

/// The per-socket cache of encoded answers: hits carry the query's ID, a new state version
/// empties it, turning answers come in turn, and odd input never trips it.
@Suite struct DNSAnswerCacheTests {
    let allocator = ByteBufferAllocator()

    func query(id: UInt16, name: String) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 64)
        buffer.writeInteger(id)
        buffer.writeBytes([0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0])
        for label in name.split(separator: ".") {
            buffer.writeInteger(UInt8(label.utf8.count))
            buffer.writeString(String(label))
        }
        buffer.writeBytes([0, 0, 1, 0, 1])
        return buffer
    }

    /// An "answer" that is the query with a marker byte after it, so that hits can be told apart.
    func answer(_ query: ByteBuffer, marker: UInt8) -> [UInt8] { Array(query.readableBytesView) + [marker] }

    @Test func aRepeatedQuestionIsAnsweredWithItsOwnID() {
        var cache = DNSAnswerCache()
        let first = query(id: 0x1111, name: "pool01.contoso.com")
        #expect(cache.answer(to: first, version: 1) == nil)
        cache.store(query: first, version: 1, allocator: allocator, served: 0) { $0 == 0 ? answer(first, marker: 7) : nil }
        let again = query(id: 0xBEEF, name: "pool01.contoso.com")
        let hit = cache.answer(to: again, version: 1)
        #expect(hit.map { Array($0.readableBytesView) } == [0xBE, 0xEF] + answer(first, marker: 7)[2...])
        // The kept copy is not changed by the ID written into a hit.
        #expect(cache.answer(to: first, version: 1).map { Array($0.readableBytesView) } == answer(first, marker: 7))
    }

    @Test func anotherQuestionOrAnotherVersionMisses() {
        var cache = DNSAnswerCache()
        let first = query(id: 1, name: "pool01.contoso.com")
        cache.store(query: first, version: 1, allocator: allocator, served: 0) { _ in answer(first, marker: 1) }
        #expect(cache.answer(to: query(id: 1, name: "pool02.contoso.com"), version: 1) == nil)
        #expect(cache.answer(to: query(id: 1, name: "pool01.contoso.co"), version: 1) == nil)
        #expect(cache.answer(to: first, version: 2) == nil)
        // Storing for a new version empties what the old one kept.
        let other = query(id: 1, name: "www.contoso.com")
        cache.store(query: other, version: 2, allocator: allocator, served: 0) { _ in answer(other, marker: 2) }
        #expect(cache.answer(to: first, version: 2) == nil)
        #expect(cache.answer(to: other, version: 2) != nil)
    }

    @Test func turningAnswersAreServedInTurn() {
        var cache = DNSAnswerCache()
        let asked = query(id: 9, name: "pool01.contoso.com")
        // Three orders, then the first again: three distinct answers are kept.
        cache.store(query: asked, version: 1, allocator: allocator, served: 0) { answer(asked, marker: UInt8($0 % 3)) }
        let markers = (0..<6).compactMap { _ in cache.answer(to: asked, version: 1)?.readableBytesView.last }
        // The miss that stored them answered with turn 0; hits go on from turn 1.
        #expect(markers == [1, 2, 0, 1, 2, 0])
        // A miss answered with turn 5 (the sixth asking of the name): the next order is turn 6's.
        var later = DNSAnswerCache()
        later.store(query: asked, version: 1, allocator: allocator, served: 5) { answer(asked, marker: UInt8($0 % 3)) }
        #expect((0..<3).compactMap { _ in later.answer(to: asked, version: 1)?.readableBytesView.last } == [0, 1, 2])
    }

    @Test func aQuestionThatLandsOnATakenSlotReplacesIt() {
        var cache = DNSAnswerCache()
        let names = (0..<(DNSAnswerCache.capacity * 2)).map { "host\($0).contoso.com" }
        for name in names {
            let asked = query(id: 1, name: name)
            cache.store(query: asked, version: 1, allocator: allocator, served: 0) { _ in answer(asked, marker: 0) }
        }
        var hits = 0
        for name in names {
            let asked = query(id: 2, name: name)
            guard let hit = cache.answer(to: asked, version: 1) else { continue }
            hits += 1
            // A hit is always the answer to this very question, never a neighbour's.
            #expect(Array(hit.readableBytesView.dropFirst(2).dropLast()) == Array(asked.readableBytesView.dropFirst(2)))
        }
        #expect(hits <= DNSAnswerCache.capacity)
        #expect(hits > DNSAnswerCache.capacity / 2)
    }

    @Test func shortAndRandomInputIsHarmless() {
        var cache = DNSAnswerCache()
        var generator = SystemRandomNumberGenerator()
        for length in 0..<12 {
            let short = allocator.buffer(bytes: (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) })
            cache.store(query: short, version: 1, allocator: allocator, served: 0) { _ in [1, 2, 3] }
            #expect(cache.answer(to: short, version: 1) == nil)
        }
        for _ in 0..<2_000 {
            let bytes = (0..<Int.random(in: 12...600, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let random = allocator.buffer(bytes: bytes)
            if cache.answer(to: random, version: 1) == nil {
                cache.store(query: random, version: 1, allocator: allocator, served: 0) { _ in bytes + [0] }
            }
            let hit = cache.answer(to: random, version: 1)
            #expect(hit.map { Array($0.readableBytesView) } == bytes + [0])
        }
    }
}
