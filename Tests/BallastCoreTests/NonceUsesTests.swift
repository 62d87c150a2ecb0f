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
}
