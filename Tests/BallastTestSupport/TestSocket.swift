import Foundation

#if canImport(Glibc)
    public import Glibc
#endif

/// A plain blocking TCP client over POSIX sockets: the simplest real client there is.
/// Every read waits at most `timeout`.
public final class TestSocket {
    /// Why a socket call failed.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        /// The system's error number, when a system call failed.
        public var code: Int32 = 0

        public init(description: String, code: Int32 = 0) {
            self.description = description
            self.code = code
        }

        /// The call timed out (the socket's read or write timeout), rather than failed.
        public var isTimeout: Bool { code == EAGAIN || code == EWOULDBLOCK }
    }

    private var fd: Int32
    private var buffered: [UInt8] = []

    /// Connects to `destination`:`port`, from `source` (any 127.0.0.0/8 address) when given,
    /// so that one machine can play many clients.
    public init(
        port: Int, source: String? = nil, destination: String = "127.0.0.1", timeout: Duration = .seconds(5)
    ) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: \(String(cString: strerror(errno)))") }
        if let source {
            guard Self.withAddress(source, port: 0, { bind(fd, $0, $1) }) == 0 else {
                let reason = String(cString: strerror(errno))
                Glibc.close(fd)
                throw Failure(description: "bind to \(source): \(reason)")
            }
        }
        let (seconds, attoseconds) = timeout.components
        var tv = timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        guard Self.withAddress(destination, port: port, { connect(fd, $0, $1) }) == 0 else {
            let reason = String(cString: strerror(errno))
            Glibc.close(fd)
            fd = -1
            throw Failure(description: "connect to \(destination):\(port): \(reason)")
        }
    }

    deinit { close() }

    /// Calls `body` with an IPv4 socket address for `host`:`port`, as bind(2) and connect(2) take it.
    public static func withAddress(
        _ host: String, port: Int, _ body: (UnsafePointer<sockaddr>, socklen_t) -> Int32
    ) -> Int32 {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr(host)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
    }

    /// The local port of this connection.
    public var localPort: Int {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Sends all of `bytes`.
    public func send(_ bytes: [UInt8]) throws { try sender.send(bytes) }

    /// Sends a string's UTF-8 bytes.
    public func send(_ text: String) throws { try send(Array(text.utf8)) }

    /// Reads at most `limit` bytes: an empty result means the peer closed its side.
    public func read(limit: Int = 65536) throws -> [UInt8] {
        if !buffered.isEmpty {
            let chunk = Array(buffered.prefix(limit))
            buffered.removeFirst(chunk.count)
            return chunk
        }
        var bytes = [UInt8](repeating: 0, count: limit)
        let count = bytes.withUnsafeMutableBytes { recv(fd, $0.baseAddress, limit, 0) }
        guard count >= 0 else {
            let code = errno
            throw Failure(description: "recv: \(String(cString: strerror(code)))", code: code)
        }
        return Array(bytes.prefix(count))
    }

    /// Reads one line without its newline; nil at end of stream.
    public func readLine() throws -> String? {
        while true {
            if let newline = buffered.firstIndex(of: 10) {
                let line = String(decoding: buffered[..<newline], as: UTF8.self)
                buffered.removeFirst(newline + 1)
                return line
            }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, 4096, 0) }
            guard count >= 0 else {
                let code = errno
                throw Failure(description: "recv: \(String(cString: strerror(code)))", code: code)
            }
            if count == 0 {
                guard !buffered.isEmpty else { return nil }
                let rest = String(decoding: buffered, as: UTF8.self)
                buffered = []
                return rest
            }
            buffered += chunk.prefix(count)
        }
    }

    /// Reads until the peer closes, at most `limit` bytes.
    public func readToEnd(limit: Int = 1 << 30) throws -> [UInt8] {
        var all: [UInt8] = []
        while all.count < limit {
            let chunk = try read(limit: min(65536, limit - all.count))
            if chunk.isEmpty { break }
            all += chunk
        }
        return all
    }

    /// True when the peer has closed (or reset) the connection; waits up to the read timeout.
    public func isClosedByPeer() -> Bool {
        guard buffered.isEmpty else { return false }
        var byte: UInt8 = 0
        let count = recv(fd, &byte, 1, 0)
        if count == 1 { buffered.append(byte) }
        return count == 0 || (count < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
    }

    /// The writing half, to send from another task while this one reads. It holds only the
    /// descriptor: send(2) and shutdown(2) need no state of this object, and the kernel
    /// allows one thread to send while another receives.
    public var sender: Sender { Sender(fd: fd) }

    /// The writing half of a socket.
    public struct Sender: Sendable {
        fileprivate let fd: Int32

        /// Sends all of `bytes`.
        public func send(_ bytes: [UInt8]) throws {
            var offset = 0
            while offset < bytes.count {
                let sent = bytes[offset...].withUnsafeBytes {
                    Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
                }
                guard sent > 0 else { throw Failure(description: "send: \(String(cString: strerror(errno)))") }
                offset += sent
            }
        }

        /// Half-closes.
        public func shutdownWrite() { shutdown(fd, Int32(SHUT_WR)) }
    }

    /// Half-closes: no more bytes from us; reading goes on.
    public func shutdownWrite() {
        shutdown(fd, Int32(SHUT_WR))
    }

    /// Closes the socket.
    public func close() {
        if fd >= 0 {
            Glibc.close(fd)
            fd = -1
        }
    }
}
