import BallastCore

/// Builds candidate sets for balancing tests.
enum Fixtures {
    static func member(
        _ name: String, weight: Int = 1, load: ServerLoad = ServerLoad(), backup: Bool = false
    ) -> CandidateSet.Member {
        let server = Server(name: name, address: IPAddress(v4: 10, 0, 0, 1), port: 80, weight: weight, isBackup: backup)
        return CandidateSet.Member(key: ServerKey(pool: "p", server: name), server: server, load: load)
    }

    static func set(_ names: [String], weights: [Int]? = nil) -> CandidateSet {
        CandidateSet(members: names.enumerated().map { index, name in member(name, weight: weights?[index] ?? 1) })
    }

    static func input(
        _ sequence: UInt64 = 0, client: IPAddress = IPAddress(v4: 192, 0, 2, 1), random: UInt64 = 0
    ) -> BalancingInput {
        BalancingInput(client: client, sequence: sequence, random: random)
    }

    /// 10.x.y.z clients, `count` of them, distinct.
    static func clients(_ count: Int) -> [IPAddress] {
        (0..<count).map { (i: Int) -> IPAddress in
            let high = UInt8(truncatingIfNeeded: i >> 16)
            let middle = UInt8(truncatingIfNeeded: i >> 8)
            let low = UInt8(truncatingIfNeeded: i)
            return IPAddress(v4: 10, high, middle, low)
        }
    }

    static func key(_ name: String) -> ServerKey { ServerKey(pool: "p", server: name) }
}
