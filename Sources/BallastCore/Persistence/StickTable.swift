/// Source-address affinity: which server a client had, for a while.
///
/// Bounded in size and in time. Entries expire `timeout` after their last use; when the
/// table is full the least recently used entry makes room. Because every entry has the
/// same lifetime, least recently used is also soonest to expire, so one list serves both.
/// Time is passed in.
public struct StickTable: Sendable {
    private struct Slot: Sendable {
        var client: IPAddress
        var server: ServerKey
        var expires: ContinuousClock.Instant
        var older: Int32
        var newer: Int32
    }

    /// Most clients held.
    public let capacity: Int
    /// Lifetime of an entry after its last use.
    public let timeout: Duration

    private var index: [IPAddress: Int32] = [:]
    private var slots: [Slot] = []
    private var freeSlots: [Int32] = []
    private var oldest: Int32 = -1
    private var newest: Int32 = -1

    /// An empty table.
    public init(capacity: Int, timeout: Duration) {
        precondition(capacity >= 1, "a stick table holds at least one entry")
        self.capacity = capacity
        self.timeout = timeout
    }

    /// Clients held now, expired ones included until they are evicted.
    public var count: Int { index.count }

    /// The server this client had, unless its entry expired (then it is removed).
    public mutating func lookup(_ client: IPAddress, now: ContinuousClock.Instant) -> ServerKey? {
        guard let slot = index[client] else { return nil }
        if slots[Int(slot)].expires <= now {
            remove(slot: slot)
            return nil
        }
        return slots[Int(slot)].server
    }

    /// Records (or refreshes) that this client uses this server.
    public mutating func record(_ client: IPAddress, server: ServerKey, now: ContinuousClock.Instant) {
        evictExpired(now: now, limit: 4)
        let expires = now.advanced(by: timeout)
        if let slot = index[client] {
            slots[Int(slot)].server = server
            slots[Int(slot)].expires = expires
            unlink(slot)
            linkNewest(slot)
            return
        }
        if index.count >= capacity, oldest >= 0 {
            remove(slot: oldest)
        }
        let slot: Int32
        let fresh = Slot(client: client, server: server, expires: expires, older: -1, newer: -1)
        if let reused = freeSlots.popLast() {
            slot = reused
            slots[Int(slot)] = fresh
        } else {
            slot = Int32(slots.count)
            slots.append(fresh)
        }
        index[client] = slot
        linkNewest(slot)
    }

    /// Forgets a client.
    public mutating func remove(_ client: IPAddress) {
        if let slot = index[client] { remove(slot: slot) }
    }

    /// Removes expired entries, oldest first, at most `limit` of them; returns how many.
    @discardableResult
    public mutating func evictExpired(now: ContinuousClock.Instant, limit: Int = .max) -> Int {
        var removed = 0
        while removed < limit, oldest >= 0, slots[Int(oldest)].expires <= now {
            remove(slot: oldest)
            removed += 1
        }
        return removed
    }

    /// Every live entry, oldest first.
    public func entries(now: ContinuousClock.Instant) -> [(client: IPAddress, server: ServerKey)] {
        var result: [(client: IPAddress, server: ServerKey)] = []
        var cursor = oldest
        while cursor >= 0 {
            let slot = slots[Int(cursor)]
            if slot.expires > now { result.append((slot.client, slot.server)) }
            cursor = slot.newer
        }
        return result
    }

    private mutating func remove(slot: Int32) {
        index[slots[Int(slot)].client] = nil
        unlink(slot)
        freeSlots.append(slot)
        // Keep the storage bounded by what is live when most entries are gone.
        if index.isEmpty {
            slots.removeAll(keepingCapacity: slots.count <= 1024)
            freeSlots.removeAll(keepingCapacity: freeSlots.count <= 1024)
        }
    }

    private mutating func unlink(_ slot: Int32) {
        let older = slots[Int(slot)].older
        let newer = slots[Int(slot)].newer
        if older >= 0 { slots[Int(older)].newer = newer } else { oldest = newer }
        if newer >= 0 { slots[Int(newer)].older = older } else { newest = older }
        slots[Int(slot)].older = -1
        slots[Int(slot)].newer = -1
    }

    private mutating func linkNewest(_ slot: Int32) {
        slots[Int(slot)].older = newest
        slots[Int(slot)].newer = -1
        if newest >= 0 { slots[Int(newest)].newer = slot } else { oldest = slot }
        newest = slot
    }
}
