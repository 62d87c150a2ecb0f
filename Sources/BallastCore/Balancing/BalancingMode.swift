/// How a relay chooses a server for a new connection.
public enum BalancingMode: String, Hashable, Sendable, CaseIterable {
    /// Each server in turn.
    case roundRobin = "round-robin"
    /// Each server in turn, as often as its weight says, interleaved.
    case weightedRoundRobin = "weighted-round-robin"
    /// The server with the fewest open connections for its weight.
    case leastConnections = "least-connections"
    /// A server chosen from the client's address; consistent, so that a server's loss
    /// moves only its own clients and its return brings them back.
    case sourceHash = "source-hash"
    /// A server at random, in proportion to weight.
    case random

    /// The algorithm that implements this mode.
    public var algorithm: any BalancingAlgorithm {
        switch self {
        case .roundRobin: return RoundRobin()
        case .weightedRoundRobin: return WeightedRoundRobin()
        case .leastConnections: return LeastConnections()
        case .sourceHash: return SourceHash()
        case .random: return RandomBalancing()
        }
    }
}

/// What a balancing decision may look at besides the candidates.
public struct BalancingInput: Sendable {
    /// The client's address.
    public var client: IPAddress
    /// A counter the relay increments for every decision.
    public var sequence: UInt64
    /// A random value, drawn by the caller so that the decision stays a pure function.
    public var random: UInt64

    /// An input for one decision.
    public init(client: IPAddress, sequence: UInt64, random: UInt64) {
        self.client = client
        self.sequence = sequence
        self.random = random
    }
}

/// One balancing algorithm: chooses among eligible candidates, without I/O.
public protocol BalancingAlgorithm: Sendable {
    /// The index in `set.members` of the chosen server, or nil when every member is excluded.
    func choose(from set: CandidateSet, input: BalancingInput, excluding: [ServerKey]) -> Int?
}
