import BallastCore
import Testing

@Suite struct RoundRobinTests {
    let set = Fixtures.set(["a", "b", "c"])

    @Test func takesEachInTurn() {
        let picks = (0..<6).map { RoundRobin().choose(from: set, input: Fixtures.input(UInt64($0)), excluding: []) }
        #expect(picks == [0, 1, 2, 0, 1, 2])
    }

    @Test func skipsExcluded() {
        let picks = (0..<4).map {
            RoundRobin().choose(from: set, input: Fixtures.input(UInt64($0)), excluding: [Fixtures.key("b")])
        }
        #expect(picks == [0, 2, 2, 0])
    }

    @Test func nothingLeft() {
        let all = ["a", "b", "c"].map(Fixtures.key)
        #expect(RoundRobin().choose(from: set, input: Fixtures.input(), excluding: all) == nil)
        #expect(RoundRobin().choose(from: CandidateSet(members: []), input: Fixtures.input(), excluding: []) == nil)
    }

    @Test func evenOverManyDecisions() {
        var counts = [0, 0, 0]
        for n in 0..<3000 {
            counts[RoundRobin().choose(from: set, input: Fixtures.input(UInt64(n)), excluding: [])!] += 1
        }
        #expect(counts == [1000, 1000, 1000])
    }
}
