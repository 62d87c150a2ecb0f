import BallastCore
import Testing

@Suite struct StickTableTests {
    let t0 = ContinuousClock.now
    let a = IPAddress("192.0.2.1")!
    let b = IPAddress("192.0.2.2")!
    let c = IPAddress("192.0.2.3")!
    let s1 = ServerKey(pool: "p", server: "s1")
    let s2 = ServerKey(pool: "p", server: "s2")

    @Test func remembersUntilExpiry() {
        var table = StickTable(capacity: 10, timeout: .seconds(60))
        table.record(a, server: s1, now: t0)
        #expect(table.lookup(a, now: t0 + .seconds(59)) == s1)
        #expect(table.lookup(a, now: t0 + .seconds(60)) == nil)
        #expect(table.count == 0)
    }

    @Test func useRefreshesExpiry() {
        var table = StickTable(capacity: 10, timeout: .seconds(60))
        table.record(a, server: s1, now: t0)
        table.record(a, server: s1, now: t0 + .seconds(50))
        #expect(table.lookup(a, now: t0 + .seconds(100)) == s1)
        #expect(table.lookup(a, now: t0 + .seconds(110)) == nil)
    }

    @Test func recordingAnotherServerReplaces() {
        var table = StickTable(capacity: 10, timeout: .seconds(60))
        table.record(a, server: s1, now: t0)
        table.record(a, server: s2, now: t0)
        #expect(table.lookup(a, now: t0) == s2)
        #expect(table.count == 1)
    }

    @Test func fullTableEvictsLeastRecentlyUsed() {
        var table = StickTable(capacity: 2, timeout: .seconds(60))
        table.record(a, server: s1, now: t0)
        table.record(b, server: s1, now: t0 + .seconds(1))
        table.record(a, server: s1, now: t0 + .seconds(2))  // a is now newer than b
        table.record(c, server: s2, now: t0 + .seconds(3))
        #expect(table.count == 2)
        #expect(table.lookup(b, now: t0 + .seconds(3)) == nil)
        #expect(table.lookup(a, now: t0 + .seconds(3)) == s1)
        #expect(table.lookup(c, now: t0 + .seconds(3)) == s2)
    }

    @Test func evictsExpiredOldestFirst() {
        var table = StickTable(capacity: 100, timeout: .seconds(10))
        for i in 0..<50 {
            table.record(IPAddress(v4: 10, 0, 0, UInt8(i)), server: s1, now: t0 + .milliseconds(i * 100))
        }
        // Entries recorded before 1.05 s expire at 11.05 s: the first 11.
        let later = t0 + .milliseconds(11_050)
        #expect(table.evictExpired(now: later) == 11)
        #expect(table.count == 39)
        #expect(table.entries(now: later).first?.client == IPAddress(v4: 10, 0, 0, 11))
    }

    @Test func removeForgets() {
        var table = StickTable(capacity: 10, timeout: .seconds(60))
        table.record(a, server: s1, now: t0)
        table.record(b, server: s2, now: t0)
        table.remove(a)
        #expect(table.lookup(a, now: t0) == nil)
        #expect(table.lookup(b, now: t0) == s2)
        #expect(table.count == 1)
    }

    @Test func neverHoldsMoreThanCapacity() {
        var table = StickTable(capacity: 1000, timeout: .seconds(3600))
        for (i, client) in Fixtures.clients(50_000).enumerated() {
            table.record(client, server: i.isMultiple(of: 2) ? s1 : s2, now: t0)
        }
        #expect(table.count == 1000)
        #expect(table.entries(now: t0).count == 1000)
    }

    /// Random operations against a plain dictionary model of the same rules.
    @Test(arguments: [1, 2, 3, 4, 5])
    func matchesAReferenceModel(seed: UInt64) {
        var rng = SplitMix(seed: seed)
        let capacity = 8
        var table = StickTable(capacity: capacity, timeout: .seconds(30))
        var model: [IPAddress: (server: ServerKey, expires: ContinuousClock.Instant, used: Int)] = [:]
        var clock = t0
        var tick = 0
        let clients = (0..<16).map { IPAddress(v4: 10, 1, 0, UInt8($0)) }
        for _ in 0..<5000 {
            tick += 1
            clock = clock + .seconds(Int(rng.next() % 4))
            let client = clients[Int(rng.next() % UInt64(clients.count))]
            if rng.next() % 3 == 0 {
                let server = rng.next() % 2 == 0 ? s1 : s2
                table.record(client, server: server, now: clock)
                model = model.filter { $0.value.expires > clock || $0.key == client }
                if model[client] == nil && model.count >= capacity {
                    let oldest = model.min { $0.value.used < $1.value.used }!.key
                    model[oldest] = nil
                }
                model[client] = (server, clock + .seconds(30), tick)
            } else {
                let expected = model[client].flatMap { $0.expires > clock ? $0.server : nil }
                if model[client] != nil && expected == nil { model[client] = nil }
                #expect(table.lookup(client, now: clock) == expected)
            }
        }
    }
}

/// A small deterministic generator for repeatable random tests.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
