/// The nonce counts each nonce has been used with, so that a captured request cannot be
/// replayed: with `qop`, each use must carry a higher `nc` than the last; without it, a
/// nonce is good once. Entries older than the nonce lifetime are dropped, since their
/// nonces are refused as stale anyway; past `capacity` the older half goes too, so that a
/// flood of registrations cannot grow it without bound (a dropped nonce is refused as a replay
/// and the client is challenged again).
public struct NonceUses: Sendable {
    private var highest: [String: (nc: UInt32, issuedAt: UInt64)] = [:]
    /// Nonces issued before this may have been forgotten while still fresh: refused.
    private var forgottenBefore: UInt64 = 0
    /// Most nonces remembered.
    public let capacity: Int

    /// An empty table holding at most `capacity` nonces.
    public init(capacity: Int = 200_000) { self.capacity = max(2, capacity) }

    /// How many nonces are remembered.
    public var count: Int { highest.count }

    /// Records a use of `nonce` with count `nc` (1 for a client without qop); false for a
    /// replay, a count not above the last one seen.
    public mutating func use(_ nonce: String, nc: UInt32, issuedAt: UInt64) -> Bool {
        if let last = highest[nonce] {
            guard nc > last.nc else { return false }
        } else {
            guard issuedAt >= forgottenBefore else { return false }
            if highest.count >= capacity {
                let times = highest.values.map(\.issuedAt).sorted()
                forgottenBefore = times[times.count / 2] + 1
                prune(issuedBefore: forgottenBefore)
                guard issuedAt >= forgottenBefore else { return false }
            }
        }
        highest[nonce] = (nc, issuedAt)
        return true
    }

    /// Forgets nonces issued before `cutoff` (milliseconds since 1970).
    public mutating func prune(issuedBefore cutoff: UInt64) {
        highest = highest.filter { $0.value.issuedAt >= cutoff }
    }
}
