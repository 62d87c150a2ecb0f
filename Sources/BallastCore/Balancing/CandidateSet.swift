/// The servers of one tier (primaries or backups) of a pool that may take new connections,
/// with what the algorithms derive from them, computed once per published state.
public struct CandidateSet: Sendable {
    /// One server a decision may choose.
    public struct Member: Sendable {
        /// Which server.
        public var key: ServerKey
        /// The server as configured.
        public var server: Server
        /// Its live connection counters, shared across states.
        public var load: ServerLoad
        /// Stable hash of the server's name, for source-hash.
        public var nameHash: UInt64

        /// A member; `load` is shared with every other state that names the server.
        public init(key: ServerKey, server: Server, load: ServerLoad) {
            self.key = key
            self.server = server
            self.load = load
            self.nameHash = StableHash.hash(server.name)
        }
    }

    /// The members, in config order.
    public let members: [Member]
    /// Smooth weighted round-robin order (nginx's algorithm): member indexes, one full cycle.
    public let weightedSchedule: [Int]
    /// Sum of the members' weights.
    public let totalWeight: Int

    /// A set from members; derives the weighted schedule.
    public init(members: [Member]) {
        self.members = members
        self.totalWeight = members.reduce(0) { $0 + $1.server.weight }
        self.weightedSchedule = CandidateSet.smoothSchedule(weights: members.map(\.server.weight))
    }

    /// True when no server may take traffic.
    public var isEmpty: Bool { members.isEmpty }

    /// nginx's smooth weighted round-robin, run for one cycle of the weights reduced by their gcd.
    static func smoothSchedule(weights: [Int]) -> [Int] {
        guard !weights.isEmpty else { return [] }
        let divisor = weights.reduce(0) { gcd($0, $1) }
        let reduced = weights.map { $0 / max(divisor, 1) }
        let total = reduced.reduce(0, +)
        var current = Array(repeating: 0, count: reduced.count)
        var schedule: [Int] = []
        schedule.reserveCapacity(total)
        for _ in 0..<total {
            var best = 0
            for i in reduced.indices {
                current[i] += reduced[i]
                if current[i] > current[best] { best = i }
            }
            current[best] -= total
            schedule.append(best)
        }
        return schedule
    }

    private static func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }
}
