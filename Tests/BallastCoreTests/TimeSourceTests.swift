import BallastCore
import Foundation
import Testing

/// The clock the edges decide expiries by: the system's, or the system's moved forward by a test.
@Suite struct TimeSourceTests {
    @Test func theSystemSourceReadsTheSystemsClocks() {
        let before = ContinuousClock.now
        let read = TimeSource.system.now
        #expect(read >= before && read <= ContinuousClock.now)
        let wall = Date().timeIntervalSince1970
        #expect(abs(TimeSource.system.wallSeconds - wall) < 1)
    }

    @Test func aShiftMovesBothClocksForwardTogether() {
        let shift = TimeShift()
        let time = TimeSource.shifted(by: shift)
        #expect(shift.offset == .zero)
        shift.advance(by: .seconds(90))
        shift.advance(by: .milliseconds(1500))
        #expect(shift.offset == .milliseconds(91_500))
        let instant = time.now - ContinuousClock.now
        #expect(instant >= .milliseconds(91_000) && instant <= .milliseconds(92_000))
        let wall = time.wallSeconds - Date().timeIntervalSince1970
        #expect(wall > 91 && wall < 92)
        // The system source is not moved by anyone's shift.
        #expect(TimeSource.system.now - ContinuousClock.now < .seconds(1))
    }

    @Test func twoShiftsAreIndependent() {
        let first = TimeShift()
        let second = TimeShift()
        first.advance(by: .seconds(10))
        #expect(second.offset == .zero)
        #expect(TimeSource.shifted(by: second).now - ContinuousClock.now < .seconds(1))
    }
}
