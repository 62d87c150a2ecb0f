/// The nonce counts each nonce has been used with, so that a captured request cannot be
/// replayed: with `qop`, each use must carry a higher `nc` than the last; without it, a
/// nonce is good once. Entries older than the nonce lifetime are dropped, since their
/// nonces are refused as stale anyway.
public struct NonceUses: Sendable {
    private var highest: [String: (nc: UInt32, issuedAt: UInt64)] = [:]

    /// An empty table.
    public init() {}

    /// How many nonces are remembered.
    public var count: Int { highest.count }

    /// Records a use of `nonce` with count `nc` (1 for a client without qop); false for a
    /// replay, a count not above the last one seen.
    public mutating func use(_ nonce: String, nc: UInt32, issuedAt: UInt64) -> Bool {
        if let last = highest[nonce], nc <= last.nc { return false }
        highest[nonce] = (nc, issuedAt)
        return true
    }

    /// Forgets nonces issued before `cutoff` (milliseconds since 1970).
    public mutating func prune(issuedBefore cutoff: UInt64) {
        highest = highest.filter { $0.value.issuedAt >= cutoff }
    }
}
