import BallastCore
import Testing

@Suite struct SourceHashTests {
    let names = ["cas1", "cas2", "cas3", "cas4"]

    func mapping(_ set: CandidateSet, _ clients: [IPAddress]) -> [String] {
        clients.map {
            set.members[SourceHash().choose(from: set, input: Fixtures.input(client: $0), excluding: [])!].server.name
        }
    }

    @Test func sameClientSameServer() {
        let set = Fixtures.set(names)
        for client in Fixtures.clients(200) {
            let first = SourceHash().choose(from: set, input: Fixtures.input(1, client: client), excluding: [])
            let again = SourceHash().choose(
                from: set, input: Fixtures.input(99, client: client, random: 7), excluding: [])
            #expect(first == again)
        }
    }

    @Test func spreadsEvenly() {
        let counts = Dictionary(grouping: mapping(Fixtures.set(names), Fixtures.clients(10_000)), by: { $0 }).mapValues(
            \.count)
        for name in names {
            // 2,500 expected each; allow 10 %.
            #expect((2250...2750).contains(counts[name] ?? 0), "\(name): \(counts[name] ?? 0)")
        }
    }

    /// The issue's test: when a server goes down only its own clients move, and they come
    /// back when it returns. Counted over 10,000 addresses.
    @Test func consistentWhenAServerLeavesAndReturns() {
        let clients = Fixtures.clients(10_000)
        let before = mapping(Fixtures.set(names), clients)
        let during = mapping(Fixtures.set(names.filter { $0 != "cas2" }), clients)
        var moved = 0
        var movedOthers = 0
        for i in clients.indices where before[i] != during[i] {
            moved += 1
            if before[i] != "cas2" { movedOthers += 1 }
        }
        let ownClients = before.filter { $0 == "cas2" }.count
        #expect(movedOthers == 0)
        #expect(moved == ownClients)
        #expect(ownClients > 2000)
        let after = mapping(Fixtures.set(names), clients)
        #expect(after == before)
    }

    @Test func excludingIsTheSameAsRemoving() {
        let clients = Fixtures.clients(2000)
        let set = Fixtures.set(names)
        let excluded = clients.map {
            set.members[
                SourceHash().choose(from: set, input: Fixtures.input(client: $0), excluding: [Fixtures.key("cas3")])!
            ]
            .server.name
        }
        #expect(excluded == mapping(Fixtures.set(names.filter { $0 != "cas3" }), clients))
    }

    @Test func addingAServerTakesOnlyItsShare() {
        let clients = Fixtures.clients(10_000)
        let before = mapping(Fixtures.set(names), clients)
        let after = mapping(Fixtures.set(names + ["cas5"]), clients)
        for i in clients.indices where before[i] != after[i] {
            #expect(after[i] == "cas5")
        }
        let taken = after.filter { $0 == "cas5" }.count
        #expect((1700...2300).contains(taken), "cas5 took \(taken)")
    }

    @Test func followsWeights() {
        let set = Fixtures.set(["a", "b"], weights: [3, 1])
        let counts = Dictionary(grouping: mapping(set, Fixtures.clients(10_000)), by: { $0 }).mapValues(\.count)
        #expect((7200...7800).contains(counts["a"] ?? 0), "a: \(counts["a"] ?? 0)")
    }

    @Test func ipv6Clients() {
        let set = Fixtures.set(names)
        let clients = (0..<1000).map { IPAddress("2001:db8::\(String($0, radix: 16))")! }
        let counts = Dictionary(grouping: mapping(set, clients), by: { $0 }).mapValues(\.count)
        #expect(counts.count == 4)
        #expect(counts.values.allSatisfy { $0 > 180 })
    }

    /// The mapping must not change between builds, processes or nodes: pinned values.
    @Test func stableAcrossProcesses() {
        #expect(StableHash.hash("cas1") == 10_753_829_144_532_579_027)
        #expect(StableHash.hash(IPAddress("192.0.2.1")!) == 17_897_417_827_812_317_549)
        let golden = mapping(
            Fixtures.set(names), [IPAddress("192.0.2.1")!, IPAddress("198.51.100.7")!, IPAddress("203.0.113.200")!])
        #expect(golden == SourceHashTests.pinned)
    }

    static let pinned = ["cas3", "cas4", "cas4"]
}
