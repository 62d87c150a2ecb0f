/// Why an HTTP relay could not be set up, in words an operator can act on.
public struct HTTPRelayError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What failed.
    public var description: String

    static func tls(relay: String, _ message: String) -> HTTPRelayError {
        HTTPRelayError(description: "relay \(relay): TLS: \(message)")
    }
}
