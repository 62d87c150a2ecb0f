/// A witness at a third location: with one, a site's failover may start by itself when the
/// witness agrees the site is lost (`ballast witness` runs one).
public struct WitnessSettings: Hashable, Sendable {
    /// Where the witness answers, `ADDRESS:PORT`.
    public var endpoint: Endpoint
    /// How long every pool of a site must have been unavailable before the witness is asked.
    public var automaticAfter: Duration

    /// Witness settings.
    public init(endpoint: Endpoint, automaticAfter: Duration = .seconds(60)) {
        self.endpoint = endpoint
        self.automaticAfter = automaticAfter
    }
}
