import BallastConfig
import Testing

@Suite struct DurationTests {
    @Test(arguments: [Duration.milliseconds(500), .seconds(2), .seconds(1800), .seconds(3600), .seconds(90)])
    func configTextRoundTrips(duration: Duration) {
        #expect(["500ms", "2s", "30m", "1h", "90s"].contains(duration.configText))
    }
}
