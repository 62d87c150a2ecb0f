/// Fixed-size byte buffers for one engine thread, reused rather than freed: a connection
/// holds a buffer only while bytes are in flight, so idle connections cost none.
public struct BufferPool {
    /// Bytes per buffer.
    public let size: Int
    /// Most free buffers kept for reuse.
    public let keep: Int
    private var free: [UnsafeMutableRawPointer] = []

    /// A pool of `size`-byte buffers keeping at most `keep` free ones.
    public init(size: Int, keep: Int) {
        self.size = size
        self.keep = keep
    }

    /// A buffer of `size` bytes, reused when one is free.
    public mutating func take() -> UnsafeMutableRawPointer {
        free.popLast() ?? UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
    }

    /// Returns a buffer taken from this pool.
    public mutating func give(_ buffer: UnsafeMutableRawPointer) {
        if free.count < keep { free.append(buffer) } else { buffer.deallocate() }
    }

    /// Frees every buffer kept for reuse.
    public mutating func drain() {
        for buffer in free { buffer.deallocate() }
        free.removeAll()
    }
}

/// Bytes waiting to be written to one side: a pooled buffer and the unsent range in it.
public struct PendingBytes {
    /// The pooled buffer.
    public var buffer: UnsafeMutableRawPointer
    /// The first unsent byte.
    public var start: Int
    /// One past the last unsent byte.
    public var end: Int

    /// Bytes of `buffer` read or made and not yet written.
    public init(buffer: UnsafeMutableRawPointer, start: Int, end: Int) {
        self.buffer = buffer
        self.start = start
        self.end = end
    }

    /// Bytes still to send.
    public var count: Int { end - start }
}
