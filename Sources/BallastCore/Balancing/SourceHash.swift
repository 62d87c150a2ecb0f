#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A server chosen from the client's address by weighted rendezvous hashing.
///
/// Every server scores every client; the best score wins. Removing a server moves only
/// the clients it won, and its return wins exactly those back: the mapping of every
/// other client never changes. The hash is stable across processes and nodes.
public struct SourceHash: BalancingAlgorithm {
    /// The algorithm.
    public init() {}

    public func choose(from set: CandidateSet, input: BalancingInput, excluding: [ServerKey]) -> Int? {
        let clientHash = StableHash.hash(input.client)
        var best: Int? = nil
        var bestScore = Double.infinity
        for (index, member) in set.members.enumerated() where !excluding.contains(member.key) {
            let score = Self.score(clientHash: clientHash, serverHash: member.nameHash, weight: member.server.weight)
            if score < bestScore {
                best = index
                bestScore = score
            }
        }
        return best
    }

    /// Weighted rendezvous score: `-ln(u) / weight` with `u` uniform in (0, 1); lowest wins.
    static func score(clientHash: UInt64, serverHash: UInt64, weight: Int) -> Double {
        let h = StableHash.combine(clientHash, serverHash)
        let unit = (Double(h >> 11) + 0.5) / 9_007_199_254_740_992.0
        return -log(unit) / Double(weight)
    }
}
