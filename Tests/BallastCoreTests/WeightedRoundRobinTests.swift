import BallastCore
import Testing

@Suite struct WeightedRoundRobinTests {
    @Test func followsWeightsExactlyPerCycle() {
        let set = Fixtures.set(["a", "b", "c"], weights: [5, 1, 1])
        #expect(set.weightedSchedule.count == 7)
        var counts = [0, 0, 0]
        for n in 0..<700 {
            counts[WeightedRoundRobin().choose(from: set, input: Fixtures.input(UInt64(n)), excluding: [])!] += 1
        }
        #expect(counts == [500, 100, 100])
    }

    @Test func interleavesHeavyServer() {
        // nginx's smooth order for 5,1,1 is a a b a c a a: never five in a row.
        let set = Fixtures.set(["a", "b", "c"], weights: [5, 1, 1])
        #expect(set.weightedSchedule == [0, 0, 1, 0, 2, 0, 0])
    }

    @Test func reducesWeightsByTheirGreatestCommonDivisor() {
        let set = Fixtures.set(["a", "b"], weights: [100, 200])
        #expect(set.weightedSchedule.count == 3)
        #expect(set.weightedSchedule.filter { $0 == 1 }.count == 2)
    }

    @Test func skipsExcludedKeepingTheOthersProportional() {
        let set = Fixtures.set(["a", "b", "c"], weights: [3, 2, 1])
        var counts = [0, 0, 0]
        for n in 0..<600 {
            counts[
                WeightedRoundRobin().choose(
                    from: set, input: Fixtures.input(UInt64(n)), excluding: [Fixtures.key("a")])!] += 1
        }
        #expect(counts[0] == 0)
        #expect(counts[1] > counts[2])
        #expect(counts[1] + counts[2] == 600)
    }

    @Test func equalWeightsAreRoundRobin() {
        let set = Fixtures.set(["a", "b", "c"])
        let picks = (0..<6).map {
            WeightedRoundRobin().choose(from: set, input: Fixtures.input(UInt64($0)), excluding: [])
        }
        #expect(Set(picks.prefix(3)) == [0, 1, 2])
        #expect(Array(picks.prefix(3)) == Array(picks.suffix(3)))
    }

    @Test func emptySetChoosesNothing() {
        #expect(
            WeightedRoundRobin().choose(from: CandidateSet(members: []), input: Fixtures.input(), excluding: []) == nil)
    }
}
