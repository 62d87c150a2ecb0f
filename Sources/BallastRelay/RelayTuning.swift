public import NIOCore

/// Socket and buffer settings of relayed connections.
///
/// Large write water marks and receive buffers let one read move up to a megabyte, which is
/// what made a NIO relay pass HAProxy on loopback (DESIGN.md's measurements); the water
/// marks also bound what a slow peer can make Ballast hold per connection.
public struct RelayTuning: Sendable {
    /// Stop reading from one side when the other holds this many unsent bytes.
    public var writeWaterMark: ChannelOptions.Types.WriteBufferWaterMark
    /// Largest single read.
    public var maximumReadSize: Int
    /// First read size; grows with traffic.
    public var initialReadSize: Int
    /// Kernel receive buffer (SO_RCVBUF) for relayed sockets; nil leaves the kernel's.
    public var socketReceiveBuffer: Int?
    /// Listen backlog.
    public var backlog: Int32

    /// The settings Ballast runs with.
    public static let standard = RelayTuning(
        writeWaterMark: .init(low: 256 * 1024, high: 1024 * 1024), maximumReadSize: 1024 * 1024,
        initialReadSize: 2048, socketReceiveBuffer: nil, backlog: 4096)

    /// Settings with every value given.
    public init(
        writeWaterMark: ChannelOptions.Types.WriteBufferWaterMark, maximumReadSize: Int, initialReadSize: Int,
        socketReceiveBuffer: Int?, backlog: Int32
    ) {
        self.writeWaterMark = writeWaterMark
        self.maximumReadSize = maximumReadSize
        self.initialReadSize = initialReadSize
        self.socketReceiveBuffer = socketReceiveBuffer
        self.backlog = backlog
    }

    var recvAllocator: AdaptiveRecvByteBufferAllocator {
        AdaptiveRecvByteBufferAllocator(minimum: 64, initial: initialReadSize, maximum: maximumReadSize)
    }
}
