/// Each server in turn, as often as its weight says, interleaved so that a heavy server
/// does not take a run of consecutive connections (nginx's smooth weighted round-robin).
public struct WeightedRoundRobin: BalancingAlgorithm {
    /// The algorithm.
    public init() {}

    public func choose(from set: CandidateSet, input: BalancingInput, excluding: [ServerKey]) -> Int? {
        let schedule = set.weightedSchedule
        guard !schedule.isEmpty else { return nil }
        let start = Int(input.sequence % UInt64(schedule.count))
        for offset in 0..<schedule.count {
            let index = schedule[(start + offset) % schedule.count]
            if !excluding.contains(set.members[index].key) { return index }
        }
        return nil
    }
}
