import BallastCore
import Testing

@Suite struct RandomBalancingTests {
    @Test func followsWeights() {
        let set = Fixtures.set(["a", "b", "c"], weights: [1, 2, 1])
        var counts = [0, 0, 0]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            counts[
                RandomBalancing().choose(from: set, input: Fixtures.input(random: generator.next()), excluding: [])!] +=
                1
        }
        #expect((4500...5500).contains(counts[0]))
        #expect((9000...11000).contains(counts[1]))
        #expect((4500...5500).contains(counts[2]))
    }

    @Test func everyRandomValueMapsInsideTheSet() {
        let set = Fixtures.set(["a", "b"], weights: [1, 256])
        for random in [UInt64.min, 1, 255, 256, 257, .max, .max - 1] {
            let index = RandomBalancing().choose(from: set, input: Fixtures.input(random: random), excluding: [])
            #expect(index == 0 || index == 1)
        }
    }

    @Test func skipsExcluded() {
        let set = Fixtures.set(["a", "b"])
        for random in 0..<100 as Range<UInt64> {
            #expect(
                RandomBalancing().choose(
                    from: set, input: Fixtures.input(random: random), excluding: [Fixtures.key("a")]) == 1)
        }
        #expect(
            RandomBalancing().choose(
                from: set, input: Fixtures.input(), excluding: [Fixtures.key("a"), Fixtures.key("b")]) == nil)
    }
}
