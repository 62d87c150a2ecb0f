/// A server at random, in proportion to its weight.
public struct RandomBalancing: BalancingAlgorithm {
    /// The algorithm.
    public init() {}

    public func choose(from set: CandidateSet, input: BalancingInput, excluding: [ServerKey]) -> Int? {
        let eligible = set.members.indices.filter { !excluding.contains(set.members[$0].key) }
        let total = eligible.reduce(0) { $0 + set.members[$1].server.weight }
        guard total > 0 else { return nil }
        var point = Int(input.random % UInt64(total))
        for index in eligible {
            point -= set.members[index].server.weight
            if point < 0 { return index }
        }
        return eligible.last
    }
}
