/// Buffer and socket settings of the relay threads.
public struct RelayTuning: Sendable {
    /// Bytes per relay buffer: the most one read moves, and the most a flow holds for a
    /// slow peer (one buffer per direction, returned to the pool as soon as it is written).
    public var bufferSize: Int
    /// Kernel receive buffer (SO_RCVBUF) for sockets to servers; nil leaves the kernel's autotuning.
    public var socketReceiveBuffer: Int?
    /// Listen backlog.
    public var backlog: Int32

    /// The settings Ballast runs with.
    public static let standard = RelayTuning(bufferSize: 256 * 1024, socketReceiveBuffer: nil, backlog: 4096)

    /// Settings with every value given; buffers are at least 16 KiB so that a PROXY header
    /// and the bytes that came with it always fit one.
    public init(bufferSize: Int, socketReceiveBuffer: Int?, backlog: Int32) {
        self.bufferSize = max(bufferSize, 16 * 1024)
        self.socketReceiveBuffer = socketReceiveBuffer
        self.backlog = backlog
    }
}
