/// SASL PLAIN (RFC 4616): `authzid NUL authcid NUL password`, base64 encoded.
public enum SASLPlain {
    /// The identity and password in a client's base64 response; nil when it is not PLAIN.
    public static func decode(_ base64: String) -> (authorization: String, user: String, password: String)? {
        guard let bytes = Base64.decode(base64) else { return nil }
        let parts = bytes.split(separator: 0, maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[1].isEmpty, !parts[2].isEmpty, parts[2].firstIndex(of: 0) == nil else {
            return nil
        }
        return (
            String(decoding: parts[0], as: UTF8.self), String(decoding: parts[1], as: UTF8.self),
            String(decoding: parts[2], as: UTF8.self)
        )
    }

    /// The base64 response for `user` and `password`, no authorization identity.
    public static func encode(user: String, password: String) -> String {
        Base64.encode([0] + Array(user.utf8) + [0] + Array(password.utf8))
    }
}

/// Standard base64 (RFC 4648), padding required, no line breaks.
public enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    private static let values: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, byte) in alphabet.enumerated() { table[Int(byte)] = UInt8(index) }
        return table
    }()

    /// The bytes of `text`; nil when it is not base64.
    public static func decode(_ text: String) -> [UInt8]? {
        let input = Array(text.utf8)
        guard input.count % 4 == 0 else { return nil }
        var output: [UInt8] = []
        output.reserveCapacity(input.count / 4 * 3)
        var index = 0
        while index < input.count {
            let chunk = input[index..<(index + 4)]
            let padding = chunk.reversed().prefix { $0 == UInt8(ascii: "=") }.count
            guard padding <= 2, index + 4 == input.count || padding == 0 else { return nil }
            var value: UInt32 = 0
            for (offset, byte) in chunk.enumerated() {
                let digit: UInt8
                if offset >= 4 - padding {
                    digit = 0
                } else {
                    digit = values[Int(byte)]
                    guard digit != 0xFF else { return nil }
                }
                value = value << 6 | UInt32(digit)
            }
            output.append(UInt8(value >> 16 & 0xFF))
            if padding < 2 { output.append(UInt8(value >> 8 & 0xFF)) }
            if padding < 1 { output.append(UInt8(value & 0xFF)) }
            index += 4
        }
        return output
    }

    /// `bytes` in base64 with padding.
    public static func encode(_ bytes: [UInt8]) -> String {
        var output: [UInt8] = []
        var index = 0
        while index < bytes.count {
            let count = min(3, bytes.count - index)
            var value: UInt32 = 0
            for offset in 0..<3 { value = value << 8 | UInt32(offset < count ? bytes[index + offset] : 0) }
            for offset in 0..<4 {
                output.append(
                    offset <= count ? alphabet[Int(value >> (18 - 6 * UInt32(offset)) & 0x3F)] : UInt8(ascii: "="))
            }
            index += 3
        }
        return String(decoding: output, as: UTF8.self)
    }
}
