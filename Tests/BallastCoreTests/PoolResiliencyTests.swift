import BallastCore
import Testing

/// When a pool counts as lost and when its users go home: failure detection and fallback
/// as hold-downs over the health records' own times.
struct PoolResiliencyTests {
    let start = ContinuousClock.now
    let detection = Duration.seconds(2)
    let fallback = Duration.seconds(10)

    func state(_ statuses: [String: (HealthStatus, Duration)], drained: Set<String> = []) -> State {
        let servers = ["a", "b"].map { Server(name: $0, address: IPAddress("10.0.0.1")!, port: 5060) }
        let topology = Topology(pools: [
            Pool(name: "hq", backupPool: "dr", check: Check(), servers: servers),
            Pool(
                name: "dr", backupPool: "hq", servers: [Server(name: "x", address: IPAddress("10.0.1.1")!, port: 5060)]),
        ])
        var health: [ProbeKey: ServerHealth] = [:]
        for (name, value) in statuses {
            health[ProbeKey(server: ServerKey(pool: "hq", server: name), port: 5060)] = ServerHealth(
                status: value.0, since: start + value.1, lastResult: "")
        }
        return State(
            version: 1, topology: topology, health: health,
            overrides: OperatorOverrides(drained: Set(drained.map { ServerKey(pool: "hq", server: $0) })), loads: [:])
    }

    @Test func availabilityTakesTheHealthRecordsTimes() {
        let up = state(["a": (.up, .seconds(5)), "b": (.up, .seconds(3))])
        #expect(up.availability(ofPool: "hq") == PoolAvailability(available: true, since: start + .seconds(3)))
        let half = state(["a": (.down, .seconds(5)), "b": (.up, .seconds(3))])
        #expect(half.availability(ofPool: "hq") == PoolAvailability(available: true, since: start + .seconds(3)))
        let down = state(["a": (.down, .seconds(5)), "b": (.down, .seconds(7))])
        #expect(down.availability(ofPool: "hq") == PoolAvailability(available: false, since: start + .seconds(7)))
        #expect(down.availability(ofPool: "dr") == PoolAvailability(available: true, since: nil))
        #expect(down.availability(ofPool: "gone") == nil)
    }

    @Test func aPoolIsLostOnlyAfterFailureDetection() {
        var resiliency = PoolResiliency()
        let down = state(["a": (.down, .seconds(1)), "b": (.down, .seconds(1))])
        let outcome1 = resiliency.advance(
            state: down, failureDetection: detection, fallback: fallback, now: start + .seconds(2)
        ).isEmpty
        #expect(outcome1)
        #expect(!resiliency.isLost("hq"))
        let transitions = resiliency.advance(
            state: down, failureDetection: detection, fallback: fallback, now: start + .seconds(3))
        #expect(transitions == [PoolResiliency.Transition(pool: "hq", lost: true)])
        #expect(resiliency.lost == ["hq"])
    }

    @Test func itIsFoundAgainOnlyAfterTheFallbackIntervalOfContinuousHealth() {
        var resiliency = PoolResiliency()
        _ = resiliency.advance(
            state: state(["a": (.down, .zero), "b": (.down, .zero)]), failureDetection: detection, fallback: fallback,
            now: start + .seconds(5))
        #expect(resiliency.isLost("hq"))
        let back = state(["a": (.up, .seconds(6)), "b": (.down, .zero)])
        let outcome2 = resiliency.advance(
            state: back, failureDetection: detection, fallback: fallback, now: start + .seconds(15)
        ).isEmpty
        #expect(outcome2)
        #expect(resiliency.isLost("hq"))
        // It flaps: down again, then up again later; the fallback counts from the last rise.
        _ = resiliency.advance(
            state: state(["a": (.down, .seconds(15)), "b": (.down, .zero)]), failureDetection: detection,
            fallback: fallback,
            now: start + .seconds(16))
        let again = state(["a": (.up, .seconds(17)), "b": (.down, .zero)])
        let outcome3 = resiliency.advance(
            state: again, failureDetection: detection, fallback: fallback, now: start + .seconds(26)
        ).isEmpty
        #expect(outcome3)
        let transitions = resiliency.advance(
            state: again, failureDetection: detection, fallback: fallback, now: start + .seconds(27))
        #expect(transitions == [PoolResiliency.Transition(pool: "hq", lost: false)])
        #expect(resiliency.lost.isEmpty)
    }

    @Test func aShortOutageLosesNothing() {
        var resiliency = PoolResiliency()
        _ = resiliency.advance(
            state: state(["a": (.down, .zero), "b": (.down, .zero)]), failureDetection: detection, fallback: fallback,
            now: start + .seconds(1))
        _ = resiliency.advance(
            state: state(["a": (.up, .seconds(1)), "b": (.down, .zero)]), failureDetection: detection,
            fallback: fallback,
            now: start + .seconds(30))
        #expect(resiliency.lost.isEmpty)
    }

    @Test func aDrainedPoolWithoutTimesCountsFromWhenItWasFirstSeen() {
        var resiliency = PoolResiliency()
        let drained = state(["a": (.up, .zero), "b": (.up, .zero)], drained: ["a", "b"])
        #expect(drained.availability(ofPool: "hq") == PoolAvailability(available: false, since: nil))
        _ = resiliency.advance(
            state: drained, failureDetection: detection, fallback: fallback, now: start + .seconds(10))
        #expect(!resiliency.isLost("hq"))
        _ = resiliency.advance(
            state: drained, failureDetection: detection, fallback: fallback, now: start + .seconds(12))
        #expect(resiliency.isLost("hq"))
    }

    @Test func aPoolThatLeavesTheConfigIsNoLongerLost() {
        var resiliency = PoolResiliency()
        _ = resiliency.advance(
            state: state(["a": (.down, .zero), "b": (.down, .zero)]), failureDetection: detection, fallback: fallback,
            now: start + .seconds(5))
        let empty = State(version: 2, topology: Topology(), health: [:], overrides: OperatorOverrides(), loads: [:])
        let outcome4 = resiliency.advance(
            state: empty, failureDetection: detection, fallback: fallback, now: start + .seconds(6))

        #expect(outcome4 == [PoolResiliency.Transition(pool: "hq", lost: false)])
    }
}
