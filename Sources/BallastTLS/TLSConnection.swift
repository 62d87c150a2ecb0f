import CBallastTLS

#if canImport(Glibc)
    import Glibc
#endif

/// One TLS connection over a non-blocking socket on an engine loop, read and written in
/// the engine's convention: a byte count, 0 at the end of the stream, or -errno (`-EAGAIN`
/// while the TLS library waits for the socket). The handshake runs inside the first reads and writes.
/// Touched by its loop's thread only.
public final class TLSConnection {
    private let pointer: OpaquePointer
    // The contexts and slot the C connection points into stay alive as long as it does.
    private let server: TLSServerContext?
    private let client: TLSClientContext?
    private let slot: TLSSessionSlot?
    /// The last call could not go on until the socket is writable (even a read, in a handshake).
    public private(set) var wantsWritable = false
    /// Set by a read: neither the TLS library nor the socket holds more bytes now.
    public private(set) var drained = false

    /// A server-side connection on `fd`; nil when the TLS library could not make one.
    public init?(accepting fd: Int32, context: TLSServerContext) {
        guard let pointer = ballast_tls_accept(context.pointer, fd) else { return nil }
        self.pointer = pointer
        server = context
        client = nil
        slot = nil
    }

    /// A client-side connection on `fd` to a server, resuming from and refilling `slot`.
    /// `name` is the server's name for SNI and verification when the context names none.
    public init?(connecting fd: Int32, context: TLSClientContext, name: String?, slot: TLSSessionSlot?) {
        let wanted = context.serverName ?? name
        guard let pointer = ballast_tls_connect(context.pointer, fd, wanted, slot?.pointer) else { return nil }
        self.pointer = pointer
        server = nil
        client = context
        self.slot = slot
    }

    deinit { ballast_tls_conn_free(pointer) }

    /// Reads decrypted bytes into `buffer`.
    public func read(_ buffer: UnsafeMutableRawPointer, count: Int) -> Int {
        var empty: Int32 = 0
        let result = ballast_tls_read(pointer, buffer, count, &empty)
        drained = empty != 0
        return translate(result)
    }

    /// Encrypts and writes from the two ranges, the first before the second; how many bytes
    /// of them were taken. After `-EAGAIN`, call again with the same bytes (or more after them).
    public func write(
        _ first: UnsafeRawPointer?, _ firstCount: Int, _ second: UnsafeRawPointer?, _ secondCount: Int
    ) -> Int {
        translate(ballast_tls_write2(pointer, first, firstCount, second, secondCount))
    }

    /// Sends close_notify, not waiting for the peer's.
    public func shutdown() { _ = ballast_tls_shutdown(pointer) }

    /// Whether the handshake finished.
    public var isEstablished: Bool { ballast_tls_handshake_done(pointer) != 0 }

    /// Whether the handshake resumed an earlier session.
    public var resumed: Bool { ballast_tls_resumed(pointer) != 0 }

    /// The protocol ALPN chose, if any.
    public var negotiatedProtocol: String? {
        var size: UInt32 = 0
        guard let bytes = ballast_tls_alpn(pointer, &size), size > 0 else { return nil }
        return String(decoding: UnsafeBufferPointer(start: bytes, count: Int(size)), as: UTF8.self)
    }

    /// The name the client asked for by SNI.
    public var requestedName: String? { ballast_tls_server_name(pointer).map { String(cString: $0) } }

    /// What went wrong after a failure, for the log.
    public var failure: String { String(cString: ballast_tls_conn_error(pointer)) }

    private func translate(_ result: Int) -> Int {
        if result >= 0 {
            wantsWritable = false
            return result
        }
        switch result {
        case BALLAST_TLS_WANT_READ:
            wantsWritable = false
            return -Int(EAGAIN)
        case BALLAST_TLS_WANT_WRITE:
            wantsWritable = true
            return -Int(EAGAIN)
        default:
            return -Int(EPROTO)
        }
    }
}
