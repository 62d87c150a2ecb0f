import Synchronization

/// A stick table shared by every event loop of one relay.
///
/// Split into shards by client address, each behind its own mutex, so that two loops
/// rarely meet; the critical section is one hash lookup.
public final class SharedStickTable: Sendable {
    private final class Shard: Sendable {
        let table: Mutex<StickTable>
        init(_ table: StickTable) { self.table = Mutex(table) }
    }

    private let shards: [Shard]
    /// Most clients held across all shards.
    public let capacity: Int
    /// Lifetime of an entry after its last use.
    public let timeout: Duration

    /// A table of `capacity` entries split into `shardCount` shards.
    public init(capacity: Int, timeout: Duration, shardCount: Int = 16) {
        let shards = max(1, min(shardCount, capacity))
        self.capacity = capacity
        self.timeout = timeout
        let perShard = max(1, capacity / shards)
        self.shards = (0..<shards).map { _ in Shard(StickTable(capacity: perShard, timeout: timeout)) }
    }

    private func shard(for client: IPAddress) -> Shard {
        shards[Int(StableHash.hash(client) % UInt64(shards.count))]
    }

    /// The server this client had, if its entry is live.
    public func lookup(_ client: IPAddress, now: ContinuousClock.Instant) -> ServerKey? {
        shard(for: client).table.withLock { $0.lookup(client, now: now) }
    }

    /// Records that this client uses this server.
    public func record(_ client: IPAddress, server: ServerKey, now: ContinuousClock.Instant) {
        shard(for: client).table.withLock { $0.record(client, server: server, now: now) }
    }

    /// Removes expired entries from every shard.
    @discardableResult
    public func evictExpired(now: ContinuousClock.Instant) -> Int {
        shards.reduce(0) { total, shard in total + shard.table.withLock { $0.evictExpired(now: now) } }
    }

    /// Clients held now.
    public var count: Int { shards.reduce(0) { $0 + $1.table.withLock { $0.count } } }
}
