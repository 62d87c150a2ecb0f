/// The server with the fewest open connections for its weight; ties go round-robin so
/// that idle servers share the first connections evenly.
public struct LeastConnections: BalancingAlgorithm {
    /// The algorithm.
    public init() {}

    public func choose(from set: CandidateSet, input: BalancingInput, excluding: [ServerKey]) -> Int? {
        let count = set.members.count
        guard count > 0 else { return nil }
        let start = Int(input.sequence % UInt64(count))
        var best: Int? = nil
        var bestActive = 0
        var bestWeight = 1
        for offset in 0..<count {
            let index = (start + offset) % count
            let member = set.members[index]
            if excluding.contains(member.key) { continue }
            let active = member.load.active
            let weight = member.server.weight
            // active/weight < bestActive/bestWeight, without division.
            if best == nil || active * bestWeight < bestActive * weight {
                best = index
                bestActive = active
                bestWeight = weight
            }
        }
        return best
    }
}
