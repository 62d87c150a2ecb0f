import BallastCore
import Testing

/// Zone serials: the operator's first, newer in RFC 1982 terms at every change, and past what a
/// restarted node served before.
@Suite struct ZoneSerialTests {
    /// 2026-12-04 12:00:00 UTC.
    let now: UInt32 = 1_796_385_600

    @Test func theOperatorsSerialIsServedUntilTheFirstChange() {
        #expect(ZoneSerial.initial(configured: 2026_1121_01, now: now) == 2026_1121_01)
        #expect(ZoneSerial.initial(configured: nil, now: now) == now)
        #expect(ZoneSerial.initial(configured: 7, now: now) == 7)
    }

    @Test func aChangeGivesASerialNewerThanTheOperatorsAndTheLastOne() {
        for configured in [2026_1121_01, 2026_1204_99, 7, 1_700_000_000, 4_294_967_000] as [UInt32] {
            var serial = ZoneSerial.initial(configured: configured, now: now)
            for step in 0..<50 {
                let next = ZoneSerial.next(after: serial, configured: configured, now: now + UInt32(step / 10))
                #expect(ZoneSerial.isNewer(next, than: serial), "\(next) after \(serial)")
                #expect(ZoneSerial.isNewer(next, than: configured))
                serial = next
            }
        }
    }

    @Test func dateStyleSerialsFollowTheSecondsSinceTheirDate() {
        // 2026-11-21 00:00 UTC is 1,795,219,200: thirteen and a half days before `now`.
        #expect(ZoneSerial.clock(configured: 2026_1121_01, now: now) == 2026_1121_01 + (now - 1_795_219_200))
        #expect(ZoneSerial.clock(configured: 2026_1121_01, now: 1_795_219_200 - 10) == 2026_1121_01)
        // Not a date: Unix time.
        #expect(ZoneSerial.clock(configured: 2026_1332_01, now: now) == now)
        #expect(ZoneSerial.clock(configured: 42, now: now) == now)
    }

    @Test func aRestartedNodeSoonServesPastWhatItServedBefore() {
        let configured: UInt32 = 2026_1121_01
        // Before the restart: 500 changes within one minute.
        var served = ZoneSerial.initial(configured: configured, now: now)
        for step in 0..<500 {
            served = ZoneSerial.next(after: served, configured: configured, now: now + UInt32(step / 10))
        }
        // After it, the operator's serial again, then the first change an hour later.
        let restarted = ZoneSerial.initial(configured: configured, now: now + 3600)
        let first = ZoneSerial.next(after: restarted, configured: configured, now: now + 3600)
        #expect(ZoneSerial.isNewer(first, than: served))
    }

    @Test func serialArithmeticWraps() {
        #expect(ZoneSerial.isNewer(1, than: UInt32.max))
        #expect(!ZoneSerial.isNewer(UInt32.max, than: 1))
        #expect(!ZoneSerial.isNewer(5, than: 5))
        #expect(ZoneSerial.newer(UInt32.max, 3) == 3)
        #expect(ZoneSerial.next(after: UInt32.max, configured: 42, now: 0) == 0)
    }
}
