public import BallastCore
import Crypto

/// Signs and recognises the value of a persistence cookie.
///
/// The value is a truncated HMAC-SHA256 of the relay, pool and server names under the
/// configured key: it names a server to Ballast and to nobody else. A value is recognised
/// only by comparing it with the values of the servers the relay has now, so a forged
/// value, one signed with an earlier key, or one for a server removed from the config is
/// simply unknown.
public struct PersistenceCookie: Sendable {
    private let key: SymmetricKey
    private let relay: String
    /// Bytes of the MAC kept in the value: 18 bytes, 24 characters of base64url.
    static let macBytes = 18

    /// A signer for one relay under `secret`.
    public init(secret: String, relay: String) {
        self.key = SymmetricKey(data: Array(secret.utf8))
        self.relay = relay
    }

    /// The cookie value that names `server`.
    public func value(for server: ServerKey) -> String {
        var message = Array(relay.utf8)
        for part in [server.pool, server.server] {
            message.append(0)
            message.append(contentsOf: part.utf8)
        }
        let mac = HMAC<SHA256>.authenticationCode(for: message, using: key)
        return Base64URL.encode(Array(mac.prefix(Self.macBytes)))
    }

    /// Value to server, for the servers a relay may pick; built once per published state.
    public func table(for servers: some Sequence<ServerKey>) -> [String: ServerKey] {
        var table: [String: ServerKey] = [:]
        for server in servers { table[value(for: server)] = server }
        return table
    }
}

/// base64url without padding (RFC 4648 section 5), for cookie values.
enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count * 4 + 2) / 3)
        var index = 0
        while index + 3 <= bytes.count {
            let n = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
            for shift in [18, 12, 6, 0] { out.append(alphabet[Int((n >> UInt32(shift)) & 63)]) }
            index += 3
        }
        let rest = bytes.count - index
        if rest > 0 {
            var n = UInt32(bytes[index]) << 16
            if rest == 2 { n |= UInt32(bytes[index + 1]) << 8 }
            out.append(alphabet[Int((n >> 18) & 63)])
            out.append(alphabet[Int((n >> 12) & 63)])
            if rest == 2 { out.append(alphabet[Int((n >> 6) & 63)]) }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
