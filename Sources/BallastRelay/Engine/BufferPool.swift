/// Fixed-size byte buffers for one relay thread, reused rather than freed: a connection
/// holds a buffer only while bytes are in flight, so idle connections cost none.
struct BufferPool {
    /// Bytes per buffer.
    let size: Int
    /// Most free buffers kept for reuse.
    let keep: Int
    private var free: [UnsafeMutableRawPointer] = []

    init(size: Int, keep: Int) {
        self.size = size
        self.keep = keep
    }

    mutating func take() -> UnsafeMutableRawPointer {
        free.popLast() ?? UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
    }

    mutating func give(_ buffer: UnsafeMutableRawPointer) {
        if free.count < keep { free.append(buffer) } else { buffer.deallocate() }
    }

    mutating func drain() {
        for buffer in free { buffer.deallocate() }
        free.removeAll()
    }
}

/// Bytes waiting to be written to one side: a pooled buffer and the unsent range in it.
struct PendingBytes {
    var buffer: UnsafeMutableRawPointer
    var start: Int
    var end: Int

    var count: Int { end - start }
}
