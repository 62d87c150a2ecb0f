public import BallastCore
public import NIOCore

extension SocketAddress {
    /// The NIO address for an endpoint.
    public init(_ endpoint: Endpoint) {
        let bytes = endpoint.address.bytes
        var buffer = ByteBuffer()
        buffer.writeBytes(bytes)
        // Cannot fail: the buffer holds 4 or 16 bytes by construction.
        self = try! SocketAddress(packedIPAddress: buffer, port: endpoint.port)
    }
}
