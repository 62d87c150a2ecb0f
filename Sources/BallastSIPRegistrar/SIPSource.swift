import BallastCodecs
public import BallastCore

/// Where a request came from and how, for Via stamping and the log.
public struct SIPSource: Sendable {
    /// The peer's IP address as text.
    public var host: String
    /// The peer's port.
    public var port: Int
    /// The transport it arrived on.
    public var transport: SIPSettings.Transport
    /// The request's top Via and To, read once when the request is checked.
    var topVia: SIPVia?
    var to: SIPNameAddress?

    /// A source.
    public init(host: String, port: Int, transport: SIPSettings.Transport) {
        self.host = host
        self.port = port
        self.transport = transport
    }
}
