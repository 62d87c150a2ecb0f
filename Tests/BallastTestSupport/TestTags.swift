public import Testing

extension Tag {
    /// A suite whose tests assert how quickly Ballast reacts (a dead server out of rotation within
    /// interval x fall, sessions closed within a second, a failover within three). Other tests
    /// beside it on two cores would blur those times, so `scripts/test.sh` runs these suites one
    /// at a time after the rest has run in parallel.
    @Tag public static var timed: Tag
}
