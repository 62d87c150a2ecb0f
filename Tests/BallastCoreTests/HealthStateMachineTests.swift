import BallastCore
import Testing

@Suite struct HealthStateMachineTests {
    let t0 = ContinuousClock.now

    @Test func firstProbeDecidesAtOnce() {
        var up = HealthStateMachine(rise: 3, fall: 3, now: t0)
        #expect(up.status == .unknown)
        #expect(up.probeSucceeded(at: t0)?.to == .up)
        var down = HealthStateMachine(rise: 3, fall: 3, now: t0)
        #expect(down.probeFailed(at: t0, reason: "refused")?.to == .down)
    }

    @Test(arguments: 1...5)
    func fallsAfterExactlyFallFailures(fall: Int) {
        var machine = HealthStateMachine(rise: 2, fall: fall, now: t0)
        _ = machine.probeSucceeded(at: t0)
        for i in 1..<fall {
            #expect(machine.probeFailed(at: t0 + .seconds(i), reason: "x") == nil)
            #expect(machine.status == .up)
        }
        let transition = machine.probeFailed(at: t0 + .seconds(fall), reason: "refused")
        #expect(transition?.from == .up)
        #expect(transition?.to == .down)
        #expect(machine.since == t0 + .seconds(fall))
    }

    @Test(arguments: 1...5)
    func risesAfterExactlyRiseSuccesses(rise: Int) {
        var machine = HealthStateMachine(rise: rise, fall: 1, now: t0)
        _ = machine.probeFailed(at: t0, reason: "x")
        for _ in 1..<rise {
            #expect(machine.probeSucceeded(at: t0) == nil)
            #expect(machine.status == .down)
        }
        #expect(machine.probeSucceeded(at: t0)?.to == .up)
    }

    @Test func aSuccessResetsTheFailureCount() {
        var machine = HealthStateMachine(rise: 1, fall: 3, now: t0)
        _ = machine.probeSucceeded(at: t0)
        _ = machine.probeFailed(at: t0, reason: "x")
        _ = machine.probeFailed(at: t0, reason: "x")
        _ = machine.probeSucceeded(at: t0)
        _ = machine.probeFailed(at: t0, reason: "x")
        _ = machine.probeFailed(at: t0, reason: "x")
        #expect(machine.status == .up)
        #expect(machine.probeFailed(at: t0, reason: "x")?.to == .down)
    }

    @Test func aFailureResetsTheRiseCount() {
        var machine = HealthStateMachine(rise: 2, fall: 1, now: t0)
        _ = machine.probeFailed(at: t0, reason: "x")
        _ = machine.probeSucceeded(at: t0)
        _ = machine.probeFailed(at: t0, reason: "x")
        #expect(machine.probeSucceeded(at: t0) == nil)
        #expect(machine.probeSucceeded(at: t0)?.to == .up)
    }

    @Test func observedFailureMakesAnUpServerSuspectAtOnce() {
        var machine = HealthStateMachine(rise: 2, fall: 3, now: t0)
        _ = machine.probeSucceeded(at: t0)
        let transition = machine.observedFailure(at: t0 + .seconds(1), reason: "connection refused")
        #expect(transition?.to == .suspect)
        #expect(!machine.status.takesTraffic)
        // A passing probe clears it at once: the server was up before.
        #expect(machine.probeSucceeded(at: t0 + .seconds(2))?.to == .up)
    }

    @Test func suspectCountsTowardFall() {
        var machine = HealthStateMachine(rise: 2, fall: 3, now: t0)
        _ = machine.probeSucceeded(at: t0)
        _ = machine.observedFailure(at: t0, reason: "refused")
        #expect(machine.probeFailed(at: t0, reason: "refused") == nil)
        #expect(machine.status == .suspect)
        #expect(machine.probeFailed(at: t0, reason: "refused")?.to == .down)
    }

    @Test func observedFailureWithFallOneGoesStraightDown() {
        var machine = HealthStateMachine(rise: 1, fall: 1, now: t0)
        _ = machine.probeSucceeded(at: t0)
        #expect(machine.observedFailure(at: t0, reason: "refused")?.to == .down)
    }

    @Test func observedFailureIgnoredWhenAlreadyOut() {
        var machine = HealthStateMachine(rise: 2, fall: 1, now: t0)
        _ = machine.probeFailed(at: t0, reason: "x")
        #expect(machine.observedFailure(at: t0, reason: "refused") == nil)
        #expect(machine.status == .down)
    }

    @Test func lastResultIsKept() {
        var machine = HealthStateMachine(rise: 1, fall: 2, now: t0)
        _ = machine.probeSucceeded(at: t0, detail: "HTTP status 200")
        #expect(machine.lastResult == "HTTP status 200")
        _ = machine.probeFailed(at: t0, reason: "HTTP status 503")
        #expect(machine.lastResult == "HTTP status 503")
    }

    @Test func takesTrafficTable() {
        #expect(HealthStatus.unknown.takesTraffic)
        #expect(HealthStatus.up.takesTraffic)
        #expect(!HealthStatus.suspect.takesTraffic)
        #expect(!HealthStatus.down.takesTraffic)
    }
}
