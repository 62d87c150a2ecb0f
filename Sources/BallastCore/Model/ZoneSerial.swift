/// The serial a zone is served with: the operator's until an answer first changes, then strictly
/// greater at every change in RFC 1982 terms, so that a secondary already holding the operator's
/// serial, or any Ballast served before, sees each change as newer and transfers it.
///
/// After a change the serial follows a clock as well as counting, so that a restarted node (which
/// starts again at the operator's serial) soon serves serials past those it served before:
/// - with a date-style serial (`YYYYMMDDnn`, as BIND users write them) the clock is the
///   operator's serial plus the seconds since that date's midnight (UTC);
/// - otherwise it is Unix time, which is what Ballast serves when the operator gives no serial.
public enum ZoneSerial {
    /// The serial of a zone's first view.
    public static func initial(configured: UInt32?, now: UInt32) -> UInt32 { configured ?? now }

    /// The serial after an answer changed, from the last one served.
    public static func next(after previous: UInt32, configured: UInt32?, now: UInt32) -> UInt32 {
        newer(previous &+ 1, clock(configured: configured, now: now))
    }

    /// The clock's reading at `now` (Unix seconds) for a zone with this operator's serial.
    public static func clock(configured: UInt32?, now: UInt32) -> UInt32 {
        guard let configured, let midnight = dateStyleMidnight(configured) else { return now }
        return configured &+ UInt32(truncatingIfNeeded: max(0, Int64(now) - midnight))
    }

    /// Whether `a` is newer than `b` in serial number arithmetic (RFC 1982, 32 bits).
    public static func isNewer(_ a: UInt32, than b: UInt32) -> Bool {
        a != b && (a &- b) < 0x8000_0000
    }

    /// The newer of two serials.
    public static func newer(_ a: UInt32, _ b: UInt32) -> UInt32 { isNewer(b, than: a) ? b : a }

    /// Unix time of the midnight (UTC) that a `YYYYMMDDnn` serial names; nil when it names no date
    /// from 1990 to 2099.
    static func dateStyleMidnight(_ serial: UInt32) -> Int64? {
        let day = Int64(serial / 100)
        let (year, month, date) = (day / 10_000, day / 100 % 100, day % 100)
        guard (1990...2099).contains(year), (1...12).contains(month), (1...31).contains(date) else { return nil }
        // Days from the civil date (Howard Hinnant's algorithm), then seconds.
        let y = month <= 2 ? year - 1 : year
        let era = y / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + date - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return (era * 146_097 + dayOfEra - 719_468) * 86_400
    }
}
