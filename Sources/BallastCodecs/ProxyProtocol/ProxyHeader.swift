public import BallastCore

/// A PROXY protocol header (HAProxy's spec, versions 1 and 2): who the client really was,
/// passed from a balancer to the server in front of the client's bytes.
public struct ProxyHeader: Hashable, Sendable {
    /// Whether the header carries addresses.
    public enum Command: Hashable, Sendable {
        /// The connection was relayed for a client: addresses follow.
        case proxy
        /// The balancer's own connection (a health check): the server uses the real peer.
        case local
    }

    /// Version 1 (text) or 2 (binary).
    public enum Version: Hashable, Sendable {
        case v1
        case v2
    }

    /// One type-length-value extension of a version 2 header.
    public struct Extension: Hashable, Sendable {
        /// The type code (0x01 ALPN, 0x02 authority, 0x20 SSL, ...).
        public var type: UInt8
        /// The raw value.
        public var value: [UInt8]

        /// An extension.
        public init(type: UInt8, value: [UInt8]) {
            self.type = type
            self.value = value
        }
    }

    /// PROXY or LOCAL.
    public var command: Command
    /// The client's address and port; nil for LOCAL or an unknown family.
    public var source: Endpoint?
    /// The address and port the client connected to; nil with `source`.
    public var destination: Endpoint?
    /// Version 2 extensions.
    public var extensions: [Extension]

    /// A PROXY header for a relayed TCP connection.
    public init(source: Endpoint, destination: Endpoint, extensions: [Extension] = []) {
        self.command = .proxy
        self.source = source
        self.destination = destination
        self.extensions = extensions
    }

    /// A header without addresses: LOCAL, or PROXY with an unknown family.
    public init(command: Command, extensions: [Extension] = []) {
        self.command = command
        self.source = nil
        self.destination = nil
        self.extensions = extensions
    }
}
