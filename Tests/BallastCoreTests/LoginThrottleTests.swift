import BallastCore
import Testing

/// Password guessing limits: delays that grow per source and per user, then refusals, known
/// addresses of a user never refused for the user's sake, counts forgotten after quiet, tables bounded.
@Suite struct LoginThrottleTests {
    let start = ContinuousClock.now
    let attacker = IPAddress("198.51.100.7")!
    let home = IPAddress("192.0.2.10")!

    @Test func aSourceIsDelayedMoreAndMoreThenRefused() {
        var throttle = LoginThrottle()
        var delays: [Duration] = []
        for index in 0..<19 {
            #expect(throttle.check(user: "u\(index)", source: attacker, now: start) == .allow)
            delays.append(throttle.failed(user: "u\(index)", source: attacker, now: start))
        }
        #expect(Array(delays.prefix(3)) == [.zero, .zero, .zero])
        #expect(delays[3] == .milliseconds(250))
        #expect(delays[4] == .milliseconds(500))
        #expect(delays[5] == .seconds(1))
        #expect(delays.last == .seconds(8), "the delay stops growing at maxDelay")
        _ = throttle.failed(user: "u19", source: attacker, now: start)
        let until = start + .seconds(300)
        #expect(
            throttle.check(user: "anyone", source: attacker, now: start + .seconds(1))
                == .refuse(until: until, reason: .source))
        #expect(throttle.check(user: "anyone", source: attacker, now: start + .seconds(301)) == .allow)
        #expect(throttle.check(user: "anyone", source: home, now: start) == .allow, "other addresses are not refused")
    }

    @Test func ipv6SourcesCountByTheirSlash64() {
        var throttle = LoginThrottle()
        for index in 0..<20 {
            let address = IPAddress("2001:db8:1:2::\(String(index + 1, radix: 16))")!
            _ = throttle.failed(user: "u\(index)", source: address, now: start)
        }
        guard case .refuse(_, .source) = throttle.check(user: "x", source: IPAddress("2001:db8:1:2::ffff")!, now: start)
        else {
            Issue.record("the /64 was not refused")
            return
        }
        #expect(throttle.check(user: "x", source: IPAddress("2001:db8:1:3::1")!, now: start) == .allow)
    }

    @Test func aUsersFailuresFromManyAddressesRefuseNewAddressesButNotItsOwn() {
        var throttle = LoginThrottle()
        throttle.succeeded(user: "alice", source: home, now: start)
        var delays: [Duration] = []
        for index in 0..<10 {
            let address = IPAddress(v4: 203, 0, 113, UInt8(index + 1))
            #expect(throttle.check(user: "alice", source: address, now: start) == .allow)
            delays.append(throttle.failed(user: "alice", source: address, now: start))
        }
        #expect(delays[4] == .zero && delays[5] == .milliseconds(250), "delays start past userFree")
        let stranger = IPAddress(v4: 203, 0, 113, 200)
        #expect(
            throttle.check(user: "alice", source: stranger, now: start)
                == .refuse(until: start + .seconds(30), reason: .user))
        #expect(throttle.check(user: "alice", source: home, now: start) == .allow, "alice's own address")
        #expect(throttle.check(user: "bob", source: stranger, now: start) == .allow, "another user")
        #expect(throttle.check(user: "alice", source: stranger, now: start + .seconds(31)) == .allow, "not for long")
        // A failure from the known address is not counted against alice's other addresses.
        #expect(throttle.failed(user: "alice", source: home, now: start) == .zero)
    }

    @Test func countsAreForgottenAfterAQuietPeriod() {
        var throttle = LoginThrottle()
        for _ in 0..<5 { _ = throttle.failed(user: "u", source: attacker, now: start) }
        #expect(throttle.failed(user: "u", source: attacker, now: start) > .zero)
        #expect(throttle.failed(user: "u", source: attacker, now: start + .seconds(601)) == .zero)
    }

    @Test func tablesStayWithinTheirCapacity() {
        var limits = LoginThrottle.Limits()
        limits.capacity = 100
        var throttle = LoginThrottle(limits: limits)
        for index in 0..<5_000 {
            let address = IPAddress(v4: 10, UInt8(index >> 16 & 0xFF), UInt8(index >> 8 & 0xFF), UInt8(index & 0xFF))
            let now = start + .milliseconds(index)
            _ = throttle.failed(user: "user\(index)", source: address, now: now)
            throttle.succeeded(user: "user\(index)", source: address, now: now)
        }
        #expect(throttle.entries <= 300)
    }
}
