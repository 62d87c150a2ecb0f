public import BallastCore
import Crypto

/// Digest authentication arithmetic (RFC 7616, RFC 8760 for SIP): HA1, the expected
/// response, and signed, timestamped nonces that need no table to check.
public enum Digest {
    /// `H(data)` as lowercase hex.
    public static func hash(_ text: String, _ algorithm: DigestAlgorithm) -> String {
        let bytes = Array(text.utf8)
        switch algorithm {
        case .md5: return Insecure.MD5.hash(data: bytes).withUnsafeBytes { hex($0) }
        case .sha256: return SHA256.hash(data: bytes).withUnsafeBytes { hex($0) }
        }
    }

    /// HA1 = H(username:realm:password), what the directory keeps instead of the password.
    public static func ha1(username: String, realm: String, password: String, algorithm: DigestAlgorithm) -> String {
        hash("\(username):\(realm):\(password)", algorithm)
    }

    /// HA1 values for `password` under an auth name and under its other spellings that clients
    /// send (`name@`, `name@realm`), for `DirectoryUser.ha1` and `ha1Aliases`.
    public static func credentials(
        authName: String, realm: String, password: String
    ) -> (ha1: [DigestAlgorithm: String], aliases: [String: [DigestAlgorithm: String]]) {
        var ha1: [DigestAlgorithm: String] = [:]
        var aliases: [String: [DigestAlgorithm: String]] = [:]
        for algorithm in DigestAlgorithm.allCases {
            ha1[algorithm] = Self.ha1(username: authName, realm: realm, password: password, algorithm: algorithm)
            for alias in ["\(authName)@", "\(authName)@\(realm.lowercased())"] {
                aliases[alias, default: [:]][algorithm] = Self.ha1(
                    username: alias, realm: realm, password: password, algorithm: algorithm)
            }
        }
        return (ha1, aliases)
    }

    /// The response a client holding the password computes: with `qop=auth`,
    /// H(HA1:nonce:nc:cnonce:auth:HA2); without qop (RFC 2069), H(HA1:nonce:HA2).
    public static func expectedResponse(
        ha1: String, method: String, uri: String, nonce: String, nc: String?, cnonce: String?, qop: String?,
        algorithm: DigestAlgorithm
    ) -> String {
        let ha2 = hash("\(method):\(uri)", algorithm)
        if let qop, let nc, let cnonce {
            return hash("\(ha1):\(nonce):\(nc):\(cnonce):\(qop):\(ha2)", algorithm)
        }
        return hash("\(ha1):\(nonce):\(ha2)", algorithm)
    }

    /// Compares two strings in time that depends only on their lengths.
    public static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for index in x.indices { difference |= x[index] ^ y[index] }
        return difference == 0
    }

    static func hex(_ bytes: [UInt8]) -> String { bytes.withUnsafeBytes { hex($0) } }

    static func hex(_ bytes: UnsafeRawBufferPointer) -> String {
        String(unsafeUninitializedCapacity: bytes.count * 2) { buffer in
            var index = 0
            for byte in bytes {
                buffer[index] = hexDigit(byte >> 4)
                buffer[index + 1] = hexDigit(byte & 0xF)
                index += 2
            }
            return index
        }
    }

    private static func hexDigit(_ value: UInt8) -> UInt8 { value < 10 ? 48 + value : 87 + value }
}

/// Nonces that carry their issue time and an HMAC of it under a key only this process (or
/// this deployment) knows: checking one needs no table, and a forged or altered one fails.
public struct NonceSigner: Sendable {
    /// What a nonce turned out to be.
    public enum Verdict: Hashable, Sendable {
        /// Issued by us, within its lifetime, at this time (milliseconds since 1970).
        case fresh(issuedAt: UInt64)
        /// Issued by us, but older than its lifetime: challenge again with `stale=true`.
        case stale
        /// Not ours, or altered.
        case forged
    }

    /// HMAC state with the key already mixed in: copying it per nonce skips the key schedule.
    private let keyed: HMAC<SHA256>

    /// A signer with this key (32 random bytes unless given).
    public init(key: [UInt8]? = nil) {
        keyed = HMAC<SHA256>(key: key.map { SymmetricKey(data: $0) } ?? SymmetricKey(size: .bits256))
    }

    /// The first 16 bytes of the MAC of `material` and the algorithm the nonce is for.
    private func mac(_ material: UnsafeRawBufferPointer, _ algorithm: DigestAlgorithm) -> [UInt8] {
        var hmac = keyed
        hmac.update(data: material)
        hmac.update(data: [algorithm == .md5 ? 1 : 2])
        return hmac.finalize().withUnsafeBytes { Array($0.prefix(16)) }
    }

    /// A new nonce issued at `now` (milliseconds since 1970) for `algorithm`: 16 hex of time, 16
    /// of random, 32 of MAC. It is good for that algorithm only, so a response cannot be moved to
    /// a weaker one than the challenge offered.
    public func issue(now: UInt64, algorithm: DigestAlgorithm = .md5) -> String {
        let material = (now.bigEndian, UInt64.random(in: 0...UInt64.max).bigEndian)
        return withUnsafeBytes(of: material) { bytes in Digest.hex(bytes) + Digest.hex(mac(bytes, algorithm)) }
    }

    /// Checks a nonce for `algorithm` at `now` against `lifetime` milliseconds.
    public func verify(_ nonce: String, algorithm: DigestAlgorithm = .md5, now: UInt64, lifetime: UInt64) -> Verdict {
        let utf8 = Array(nonce.utf8)
        guard utf8.count == 64, let bytes = Self.unhex(utf8) else { return .forged }
        // The MAC's first 16 bytes against the nonce's, in time that does not depend on where they differ.
        var difference: UInt8 = 0
        let expected = bytes.withUnsafeBytes { mac(UnsafeRawBufferPointer(rebasing: $0[0..<16]), algorithm) }
        for index in 0..<16 { difference |= expected[index] ^ bytes[16 + index] }
        guard difference == 0 else { return .forged }
        let material = bytes[0..<16]
        let issuedAt = material[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        guard issuedAt <= now &+ 1000, now - min(now, issuedAt) <= lifetime else { return .stale }
        return .fresh(issuedAt: issuedAt)
    }

    private static func unhex(_ digits: [UInt8]) -> [UInt8]? {
        func value(_ digit: UInt8) -> UInt8? {
            switch digit {
            case 48...57: return digit - 48
            case 97...102: return digit - 87
            default: return nil
            }
        }
        var result: [UInt8] = []
        result.reserveCapacity(digits.count / 2)
        var index = 0
        while index + 1 < digits.count {
            guard let high = value(digits[index]), let low = value(digits[index + 1]) else { return nil }
            result.append(high << 4 | low)
            index += 2
        }
        return result
    }
}
