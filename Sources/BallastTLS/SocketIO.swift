public import BallastEngine
import CBallastLinux

#if canImport(Glibc)
    import Glibc
#endif

/// One socket's bytes, through TLS when the connection has it, in the system calls'
/// convention either way: a count, 0 at the end of the stream, or -errno (`-EPROTO` for a
/// TLS failure). HTTP client connections, server links and SIP streams move their bytes
/// through it.
public struct SocketIO {
    /// The socket.
    public let fd: Int32
    /// TLS on the socket, when the listener terminates or the link re-encrypts.
    public let tls: TLSConnection?

    /// The bytes of `fd`, through `tls` when given.
    public init(fd: Int32, tls: TLSConnection?) {
        self.fd = fd
        self.tls = tls
    }

    /// Reads into `buffer`, decrypted under TLS.
    public func read(_ buffer: UnsafeMutableRawPointer, count: Int) -> Int {
        if let tls { return tls.read(buffer, count: count) }
        return ballast_read(fd, buffer, UInt(count))
    }

    /// Whether a read of `count` bytes into `space` left nothing waiting: a short read on a
    /// plain socket, nothing in the TLS library or the socket under TLS.
    public func drained(count: Int, space: Int) -> Bool {
        if let tls { return tls.drained }
        return count < space
    }

    /// Writes the two ranges, the first before the second, encrypted under TLS; how many bytes
    /// of them were taken.
    public func write(
        _ first: UnsafeRawPointer?, _ firstCount: Int, _ second: UnsafeRawPointer?, _ secondCount: Int
    ) -> Int {
        if let tls { return tls.write(first, firstCount, second, secondCount) }
        return ballast_write2(fd, first, UInt(firstCount), second, UInt(secondCount))
    }

    /// Ends the bytes towards the peer: close_notify under TLS, a FIN otherwise.
    public func shutdownWrite() {
        if let tls { tls.shutdown() } else { _ = ballast_shutdown_write(fd) }
    }

    /// Asks the loop for the client socket's writable edges too (a write would block), in the
    /// front-side tag of the connection in `slot`.
    public func watchWritable(slot: Int, context: LoopContext) {
        _ = ballast_epoll_modify(
            context.loop.epollFD, fd, EPOLLIN.rawValue | EPOLLOUT.rawValue | EPOLLRDHUP.rawValue | EPOLLET.rawValue,
            context.tag(slot: slot, side: .front))
    }

    /// What a failed read or write with `code` means, TLS's own reason included.
    public func describe(_ code: Int32) -> String {
        if let tls, code == EPROTO { return "TLS: \(tls.failure)" }
        return SystemError.describe(code)
    }
}
