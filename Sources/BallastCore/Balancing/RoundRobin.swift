/// Each server in turn.
public struct RoundRobin: BalancingAlgorithm {
    /// The algorithm.
    public init() {}

    public func choose(from set: CandidateSet, input: BalancingInput, excluding: [ServerKey]) -> Int? {
        let count = set.members.count
        guard count > 0 else { return nil }
        let start = Int(input.sequence % UInt64(count))
        for offset in 0..<count {
            let index = (start + offset) % count
            if !excluding.contains(set.members[index].key) { return index }
        }
        return nil
    }
}
