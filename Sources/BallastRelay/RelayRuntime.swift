public import BallastCore
import CoreMetrics
public import Logging
import Metrics

/// What every connection through one relay shares: the state to ask, the stick table,
/// the balancing counter, where to report a server that failed, logs and metrics.
public final class RelayRuntime: Sendable {
    /// The relay's name in the topology.
    public let relayName: String
    /// Where state snapshots come from.
    public let state: PublishedState
    /// Source-address affinity, when the relay has it.
    public let stickTable: SharedStickTable?
    /// Called when live traffic could not reach a server, with the probe that decides
    /// whether this relay uses it.
    public let reportFailure: @Sendable (ProbeKey, String) -> Void
    /// Socket settings.
    public let tuning: RelayTuning
    /// The clock affinity expires by.
    public let time: TimeSource
    let logger: Logger
    let metrics: RelayMetrics
    private let inputs = BalancingInputSource()

    /// A runtime for one relay; `stickTable` should be kept across reloads when the
    /// relay's persistence is unchanged, so that clients keep their servers.
    public init(
        relayName: String, state: PublishedState, stickTable: SharedStickTable?, tuning: RelayTuning = .standard,
        time: TimeSource = .system, logger: Logger, reportFailure: @escaping @Sendable (ProbeKey, String) -> Void
    ) {
        self.relayName = relayName
        self.time = time
        self.state = state
        self.stickTable = stickTable
        self.tuning = tuning
        self.logger = logger
        self.reportFailure = reportFailure
        self.metrics = RelayMetrics(relay: relayName)
    }

    /// The input of one balancing decision.
    func balancingInput(client: IPAddress) -> BalancingInput { inputs.next(client: client) }
}

/// The relay's metrics, created once so that connections only count.
struct RelayMetrics: Sendable {
    let accepted: Counter
    let active: Meter
    let failedConnects: Counter
    let noServer: Counter
    let bytesFromClients: Counter
    let bytesFromServers: Counter
    let idleTimeouts: Counter
    let limitReached: Counter

    init(relay: String) {
        let dimensions = [("relay", relay)]
        accepted = Counter(label: "ballast_relay_connections_total", dimensions: dimensions)
        active = Meter(label: "ballast_relay_connections_active", dimensions: dimensions)
        failedConnects = Counter(label: "ballast_relay_connect_failures_total", dimensions: dimensions)
        noServer = Counter(label: "ballast_relay_no_server_total", dimensions: dimensions)
        bytesFromClients = Counter(label: "ballast_relay_bytes_from_clients_total", dimensions: dimensions)
        bytesFromServers = Counter(label: "ballast_relay_bytes_from_servers_total", dimensions: dimensions)
        idleTimeouts = Counter(label: "ballast_relay_idle_timeouts_total", dimensions: dimensions)
        limitReached = Counter(label: "ballast_relay_limit_reached_total", dimensions: dimensions)
    }
}
