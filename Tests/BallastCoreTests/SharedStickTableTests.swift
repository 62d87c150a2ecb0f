import BallastCore
import Testing

@Suite struct SharedStickTableTests {
    @Test func sharedAcrossTasks() async {
        let table = SharedStickTable(capacity: 10_000, timeout: .seconds(60))
        let clients = Fixtures.clients(4000)
        let now = ContinuousClock.now
        await withTaskGroup(of: Void.self) { group in
            for part in 0..<4 {
                group.addTask {
                    for client in clients[(part * 1000)..<((part + 1) * 1000)] {
                        table.record(client, server: ServerKey(pool: "p", server: "s\(part)"), now: now)
                    }
                }
            }
        }
        #expect(table.count == 4000)
        #expect(table.lookup(clients[2500], now: now) == ServerKey(pool: "p", server: "s2"))
        #expect(table.evictExpired(now: now + .seconds(61)) == 4000)
        #expect(table.count == 0)
    }

    @Test func boundedBySize() {
        let table = SharedStickTable(capacity: 1600, timeout: .seconds(60))
        let now = ContinuousClock.now
        for client in Fixtures.clients(20_000) {
            table.record(client, server: ServerKey(pool: "p", server: "s"), now: now)
        }
        #expect(table.count <= 1600)
    }
}
