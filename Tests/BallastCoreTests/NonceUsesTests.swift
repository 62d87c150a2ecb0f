import BallastCore
import Testing

/// Nonce counts: each use must count up, and old entries go.
struct NonceUsesTests {
    @Test func countsMustRiseAndPruningForgets() {
        var uses = NonceUses()
        var results: [Bool] = []
        for (nonce, nc) in [("n1", 1), ("n1", 1), ("n1", 2), ("n1", 1), ("n2", 1)] {
            results.append(uses.use(nonce, nc: UInt32(nc), issuedAt: nonce == "n1" ? 10 : 20))
        }
        #expect(results == [true, false, true, false, true])
        uses.prune(issuedBefore: 15)
        #expect(uses.count == 1)
        let again = uses.use("n1", nc: 1, issuedAt: 10)
        #expect(again)
    }

    @Test func itStaysWithinItsCapacityAndRefusesWhatItMayHaveForgotten() {
        var uses = NonceUses(capacity: 100)
        for index in 0..<1000 {
            _ = uses.use("n\(index)", nc: 1, issuedAt: UInt64(index))
            #expect(uses.count <= 100)
        }
        // An old nonce it no longer remembers could be a replay.
        let old = uses.use("n3", nc: 1, issuedAt: 3)
        #expect(!old)
        let fresh = uses.use("n-new", nc: 1, issuedAt: 2000)
        #expect(fresh)
    }
}
