import BallastCore
import Testing

@Suite struct LeastConnectionsTests {
    func set(active: [Int], weights: [Int]? = nil) -> CandidateSet {
        CandidateSet(
            members: active.enumerated().map { index, count in
                let load = ServerLoad()
                for _ in 0..<count { load.opened() }
                return Fixtures.member("s\(index)", weight: weights?[index] ?? 1, load: load)
            })
    }

    @Test func choosesTheLeastLoaded() {
        #expect(LeastConnections().choose(from: set(active: [5, 2, 7]), input: Fixtures.input(), excluding: []) == 1)
    }

    @Test func accountsForWeight() {
        // 6/3 = 2 beats 3/1 = 3.
        #expect(
            LeastConnections().choose(
                from: set(active: [3, 6], weights: [1, 3]), input: Fixtures.input(), excluding: []) == 1)
    }

    @Test func tiesRotate() {
        let idle = set(active: [0, 0, 0])
        let picks = (0..<3).map {
            LeastConnections().choose(from: idle, input: Fixtures.input(UInt64($0)), excluding: [])
        }
        #expect(Set(picks) == [0, 1, 2])
    }

    @Test func skipsExcluded() {
        #expect(
            LeastConnections().choose(
                from: set(active: [0, 4, 5]), input: Fixtures.input(), excluding: [Fixtures.key("s0")]) == 1)
    }

    @Test func followsLiveLoad() {
        let candidates = set(active: [0, 0])
        var counts = [0, 0]
        // Connections that stay open: the algorithm alternates to keep loads level.
        for n in 0..<100 {
            let index = LeastConnections().choose(from: candidates, input: Fixtures.input(UInt64(n)), excluding: [])!
            candidates.members[index].load.opened()
            counts[index] += 1
        }
        #expect(counts == [50, 50])
        candidates.members[0].load.closed()
        #expect(LeastConnections().choose(from: candidates, input: Fixtures.input(1), excluding: []) == 0)
    }
}
