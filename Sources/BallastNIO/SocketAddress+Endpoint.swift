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

    /// The endpoint of an IP socket address; nil for UNIX sockets.
    public var endpoint: Endpoint? {
        guard let ip = ipAddressBytes, let port else { return nil }
        return Endpoint(address: ip, port: port)
    }

    /// The IP address of an IP socket address.
    public var ipAddressBytes: IPAddress? {
        switch self {
        // sockaddr_in keeps the address at byte 4 and sockaddr_in6 at byte 8, on Linux and BSD alike.
        case .v4(let address):
            return withUnsafeBytes(of: address.address) { raw in
                IPAddress(v4: raw[4], raw[5], raw[6], raw[7])
            }
        case .v6(let address):
            return withUnsafeBytes(of: address.address) { raw in
                IPAddress(
                    v6High: UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self)),
                    low: UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self)))
            }
        case .unixDomainSocket:
            return nil
        }
    }
}
