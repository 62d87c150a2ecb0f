public import BallastCore
import CBallastTLS

/// What a terminating listener offers clients: certificate chains chosen by SNI (a name
/// exactly, then a `*.` wildcard covering it, else the first), ALPN, TLS 1.2 and 1.3, and
/// session tickets whose keys rotate.
///
/// Built from files at every reload, so renewed certificates are served after SIGHUP; open
/// connections keep the context they started with.
public final class TLSServerContext: @unchecked Sendable {
    // @unchecked: the C context is configured once in init and only read afterwards (an SSL_CTX,
    // BoringSSL's or OpenSSL's, is safe to share between threads then); the ticket keys it rotates sit behind a
    // mutex in C.
    let pointer: OpaquePointer

    /// How long a ticket key encrypts new tickets before a new one takes over.
    public static let defaultTicketPeriod: Duration = .seconds(3600)

    /// Loads `certificates` (the first is the default) and offers `alpn` in that order of preference.
    public init(
        certificates: [HTTPSettings.Certificate], alpn: [String], ticketPeriod: Duration = defaultTicketPeriod
    ) throws(TLSError) {
        guard !certificates.isEmpty else { throw TLSError("no certificate given; name at least one") }
        var message = [CChar](repeating: 0, count: 512)
        guard let server = ballast_tls_server_new(&message, message.count) else {
            throw TLSError(Self.text(message))
        }
        pointer = server
        for certificate in certificates {
            guard
                ballast_tls_server_add(
                    server, certificate.certificateFile, certificate.keyFile, &message, message.count) == 0
            else {
                throw TLSError(Self.text(message))
            }
        }
        let wire = alpn.flatMap { [UInt8($0.utf8.count)] + Array($0.utf8) }
        wire.withUnsafeBufferPointer { ballast_tls_server_set_alpn(server, $0.baseAddress, $0.count) }
        ballast_tls_server_set_ticket_period(server, UInt64(max(1, ticketPeriod.components.seconds)))
    }

    deinit { ballast_tls_server_free(pointer) }

    /// Puts a new ticket key in use now; tickets under the two before it still resume.
    public func rotateTicketKeys() { ballast_tls_server_rotate_ticket_keys(pointer) }

    static func text(_ message: [CChar]) -> String {
        String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
