import BallastAdmin
import BallastTestSupport
import CoreMetrics
import Foundation
import Prometheus
import Testing

@Suite struct MetricCatalogueTests {
    static let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Sources")

    /// Every metric a source file names (`label: "ballast_…"`, `metric: "ballast_…"`).
    static func namedMetrics() throws -> Set<String> {
        let pattern = try NSRegularExpression(pattern: #"(?:label|metric): "(ballast_[a-z_]+)""#)
        var names: Set<String> = []
        let files = FileManager.default.enumerator(atPath: sources.path)?.compactMap { $0 as? String } ?? []
        for file in files where file.hasSuffix(".swift") {
            let text = try String(contentsOf: sources.appendingPathComponent(file), encoding: .utf8)
            for match in pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                if let range = Range(match.range(at: 1), in: text) { names.insert(String(text[range])) }
            }
        }
        return names
    }

    @Test func everyMetricInTheSourcesHasItsOwnHelpText() throws {
        let names = try Self.namedMetrics()
        #expect(names.count >= 30, "\(names.sorted())")
        for name in names.sorted() {
            #expect(MetricCatalogue.help[name] != nil, "\(name) has no HELP text in MetricCatalogue")
        }
        for (name, text) in MetricCatalogue.help {
            #expect(text.hasSuffix(".") && !text.contains("\n") && text.count < 200, "\(name): \(text)")
        }
    }

    /// Each kind of swift-metrics handler comes out with its HELP and TYPE, and the whole page
    /// passes `promtool check metrics` (installed by scripts/test.sh from Debian's prometheus).
    @Test func theFactoryEmitsHelpForEveryKindAndPromtoolAgrees() throws {
        let registry = PrometheusCollectorRegistry()
        let factory = HelpfulMetricsFactory(registry: registry)
        factory.makeCounter(label: "ballast_http_requests_total", dimensions: [("relay", "web")]).increment(by: 3)
        factory.makeCounter(label: "ballast_http_requests_total", dimensions: [("relay", "owa")]).increment(by: 1)
        factory.makeFloatingPointCounter(label: "ballast_relay_bytes_from_clients_total", dimensions: []).increment(
            by: 2.5)
        factory.makeMeter(label: "ballast_relay_connections_active", dimensions: [("relay", "web")]).set(Int64(4))
        factory.makeRecorder(label: "ballast_server_up", dimensions: [("server", "a")], aggregate: false).record(
            Int64(1))
        factory.makeTimer(label: "ballast_plan_step_seconds", dimensions: []).recordNanoseconds(2_000_000)
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        let page = String(decoding: buffer, as: UTF8.self)
        #expect(page.contains("# HELP ballast_http_requests_total HTTP requests relayed to a server, by relay.\n"))
        #expect(page.components(separatedBy: "# HELP ballast_http_requests_total").count == 2)
        for name in ["ballast_relay_bytes_from_clients_total", "ballast_relay_connections_active", "ballast_server_up"]
        {
            #expect(page.contains("# HELP \(name) \(MetricCatalogue.help[name]!)\n"), "\(page)")
        }
        #expect(page.contains("# HELP ballast_plan_step_seconds Ballast metric ballast_plan_step_seconds.\n"))
        let file = try BallastProcess.makeDirectory().appendingPathComponent("metrics.txt")
        defer { try? FileManager.default.removeItem(at: file.deletingLastPathComponent()) }
        try page.write(to: file, atomically: true, encoding: .utf8)
        let promtool = try BallastProcess.run(
            executable: URL(fileURLWithPath: "/bin/sh"), ["-c", "/usr/bin/promtool check metrics < '\(file.path)'"])
        #expect(
            promtool.status == 0 && promtool.stdout.isEmpty && promtool.stderr.isEmpty,
            "\(promtool.stdout) \(promtool.stderr)")
    }
}
