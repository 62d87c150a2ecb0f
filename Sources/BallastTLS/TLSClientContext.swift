public import BallastCore
import CBallastTLS

/// How a relay speaks TLS to its servers (re-encryption): whether and against what the
/// server's chain is verified, and the name asked for and checked.
public final class TLSClientContext: @unchecked Sendable {
    // @unchecked: the C context is configured once in init and only read afterwards.
    let pointer: OpaquePointer
    /// The name sent by SNI and verified; nil sends none.
    public let serverName: String?

    /// A context from a relay's `server-tls` settings.
    public init(_ settings: HTTPSettings.ServerTLS) throws(TLSError) {
        var message = [CChar](repeating: 0, count: 512)
        guard let client = ballast_tls_client_new(settings.verify ? 1 : 0, settings.caFile, &message, message.count)
        else {
            throw TLSError("\(TLSServerContext.text(message)); check server-tls.ca-file")
        }
        pointer = client
        serverName = settings.serverName
    }

    deinit { ballast_tls_client_free(pointer) }
}

/// The last session one server gave, so that the next connection to it resumes instead of
/// a full handshake. Belongs to one engine loop.
public final class TLSSessionSlot {
    let pointer: OpaquePointer

    /// An empty slot.
    public init() { pointer = ballast_tls_session_slot_new() }

    deinit { ballast_tls_session_slot_free(pointer) }

    /// Whether a session waits to be resumed.
    public var isFilled: Bool { ballast_tls_session_slot_filled(pointer) != 0 }
}
