/// A server's published health.
public struct ServerHealth: Hashable, Sendable {
    /// Current status.
    public var status: HealthStatus
    /// When the status began.
    public var since: ContinuousClock.Instant
    /// The last probe's result, in words.
    public var lastResult: String

    /// A health value.
    public init(status: HealthStatus, since: ContinuousClock.Instant, lastResult: String) {
        self.status = status
        self.since = since
        self.lastResult = lastResult
    }

    /// The published form of a state machine's current state.
    public init(_ machine: HealthStateMachine) {
        self.init(status: machine.status, since: machine.since, lastResult: machine.lastResult)
    }
}

/// What operators have set by hand, on top of config and health.
public struct OperatorOverrides: Hashable, Sendable {
    /// Servers that take no new connections; their open connections go on.
    public var drained: Set<ServerKey>

    /// Overrides with nothing set unless given.
    public init(drained: Set<ServerKey> = []) {
        self.drained = drained
    }
}
