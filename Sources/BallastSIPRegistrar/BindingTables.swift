import BallastCore
import Synchronization

/// Every registrar's bindings and every server's nonce counts, split into shards by address of
/// record and by nonce: two engine loops answering at once take different locks but for one
/// request in `shardCount`, and each lock is held for a table update only (no I/O).
final class BindingTables: Sendable {
    /// Shards of each kind; a power of two.
    static let shardCount = 64

    private struct NonceShard {
        /// Nonce counts per server: each registrar's pool, and "" for the director.
        var uses: [String: NonceUses] = [:]
        var usesSincePrune = 0
    }

    /// One shard of each kind; a class, so that the array holds its locks in place.
    private final class Shard: Sendable {
        /// Bindings of the addresses of record that hash here, by the pool whose registrar holds them.
        let bindings = Mutex<[String: Registrations]>([:])
        let nonces = Mutex(NonceShard())
    }

    private let shards: [Shard]
    private let nonceCapacity: Int

    /// Tables holding `restored` (read back from the registrations file).
    init(restored: [String: Registrations] = [:], nonceCapacity: Int = 200_000) {
        shards = (0..<Self.shardCount).map { _ in Shard() }
        self.nonceCapacity = max(2, nonceCapacity / Self.shardCount)
        for (pool, table) in restored {
            for (aor, list) in table.bindings {
                shard(of: aor).bindings.withLock { $0[pool, default: Registrations()].replace(aor, with: list) }
            }
        }
    }

    private func shard(of key: String) -> Shard { shards[key.hashValue & (Self.shardCount - 1)] }

    /// The bindings of `aor` at the registrar of `pool` in force at `wall`.
    func bindings(of aor: String, at pool: String, wall: Double) -> [Binding] {
        shard(of: aor).bindings.withLock { $0[pool]?.current(aor, at: wall) ?? [] }
    }

    /// Applies a REGISTER of `aor` at the registrar of `pool`.
    func apply(
        _ request: RegisterRequest, to aor: String, at pool: String, limits: RegistrationLimits, resiliency: Bool,
        wall: Double
    ) -> RegisterOutcome {
        shard(of: aor).bindings.withLock {
            $0[pool, default: Registrations()].apply(
                request, to: aor, limits: limits, resiliency: resiliency, now: wall)
        }
    }

    /// Drops every binding of `aor` at `pool`; true when it had one in force.
    func removeAll(_ aor: String, at pool: String, wall: Double) -> Bool {
        shard(of: aor).bindings.withLock { tables in
            guard tables[pool]?.current(aor, at: wall).isEmpty == false else { return false }
            tables[pool]?.removeAll(aor)
            return true
        }
    }

    /// Drops lapsed bindings everywhere; the addresses of record left with none, and how many
    /// bindings are in force.
    func removeExpired(wall: Double) -> (changes: [BindingChange], live: Int) {
        var changes: [BindingChange] = []
        var live = 0
        for shard in shards {
            shard.bindings.withLock { tables in
                for pool in tables.keys {
                    for aor in tables[pool]?.removeExpired(at: wall) ?? [] {
                        changes.append(BindingChange(pool: pool, aor: aor, bindings: []))
                    }
                    live += tables[pool]?.count(at: wall) ?? 0
                }
            }
        }
        return (changes, live)
    }

    /// Records a use of `nonce` with count `nc` at `server`; false for a replay. Forgets,
    /// now and then, nonces issued before `staleBefore`.
    func useNonce(_ nonce: String, nc: UInt32, issuedAt: UInt64, at server: String, staleBefore: UInt64) -> Bool {
        shard(of: nonce).nonces.withLock { shard in
            shard.usesSincePrune += 1
            if shard.usesSincePrune >= 1024 {
                shard.usesSincePrune = 0
                for key in shard.uses.keys { shard.uses[key]?.prune(issuedBefore: staleBefore) }
            }
            return shard.uses[server, default: NonceUses(capacity: nonceCapacity)].use(
                nonce, nc: nc, issuedAt: issuedAt)
        }
    }
}
