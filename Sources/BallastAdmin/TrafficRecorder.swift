public import BallastCore
import Foundation
public import Prometheus
public import ServiceLifecycle
import Synchronization

/// Samples the node's traffic once a second into a `TrafficHistory`, for `/api/traffic` and the
/// dashboard's plots; runs beside the admin listener as a service.
public final class TrafficRecorder: Service, Sendable {
    private let state: PublishedState
    private let registry: PrometheusCollectorRegistry
    private let history: Mutex<TrafficHistory>

    /// A recorder of the node publishing `state`, reading counters from `registry`, keeping `seconds` of history.
    public init(state: PublishedState, registry: PrometheusCollectorRegistry, seconds: Int = 300) {
        self.state = state
        self.registry = registry
        self.history = Mutex(TrafficHistory(capacity: seconds))
    }

    /// Takes one sample now.
    public func sample() {
        let text = String(decoding: registry.emitToBuffer(), as: UTF8.self)
        let totals = TrafficHistory.totals(metrics: text, state: state.current)
        history.withLock { $0.record(totals) }
    }

    /// The history so far.
    public var current: TrafficHistory { history.withLock { $0 } }

    public func run() async throws {
        let clock = ContinuousClock()
        var next = clock.now
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            sample()
            next = next.advanced(by: .seconds(1))
            try? await Task.sleep(until: next, clock: clock)
        }
    }
}

/// The JSON of `/api/traffic`.
struct TrafficView: Codable {
    struct Series: Codable {
        var group: String
        var measure: String
        /// Per-second rates, oldest first; the last is the second just past.
        var values: [Double]
    }

    var seconds: Int
    var series: [Series]

    init(_ history: TrafficHistory) {
        seconds = history.length
        series = history.rates.keys.sorted().map { key in
            Series(group: key.group, measure: key.measure, values: history.rates[key] ?? [])
        }
    }
}
