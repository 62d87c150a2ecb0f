public import BallastCore

/// Reads and writes the cookie headers a persistence cookie travels in (RFC 6265), without
/// trusting what a client sends.
public enum CookieHeader {
    /// Longest cookie value looked at; longer ones cannot be Ballast's.
    static let maxValueLength = 256

    /// The value of the first cookie called `name` in a `Cookie` header value (`a=1; b=2`);
    /// nil when there is none or it is malformed.
    public static func value(named name: String, in header: String) -> String? {
        for pair in header.utf8.split(separator: UInt8(ascii: ";"), omittingEmptySubsequences: true) {
            guard let equals = pair.firstIndex(of: UInt8(ascii: "=")) else { continue }
            let key = trim(pair[pair.startIndex..<equals])
            guard key.elementsEqual(name.utf8) else { continue }
            var value = trim(pair[pair.index(after: equals)...])
            if value.count >= 2, value.first == UInt8(ascii: "\""), value.last == UInt8(ascii: "\"") {
                value = value.dropFirst().dropLast()
            }
            guard value.count <= maxValueLength, value.allSatisfy(isCookieOctet) else { return nil }
            return String(decoding: value, as: UTF8.self)
        }
        return nil
    }

    /// The `Cookie` header value without any cookie called `name`; nil when nothing is left.
    /// Servers behind Ballast never see its cookie, as with HAProxy's `indirect`.
    public static func removing(named name: String, from header: String) -> String? {
        let kept = header.utf8.split(separator: UInt8(ascii: ";"), omittingEmptySubsequences: true).filter { pair in
            let key = pair.firstIndex(of: UInt8(ascii: "=")).map { trim(pair[pair.startIndex..<$0]) } ?? trim(pair)
            return !key.elementsEqual(name.utf8) && !trim(pair).isEmpty
        }
        guard !kept.isEmpty else { return nil }
        return kept.map { String(decoding: trim($0), as: UTF8.self) }.joined(separator: "; ")
    }

    /// The `Set-Cookie` header value that pins a client to a server.
    public static func setCookie(value: String, settings: CookiePersistence) -> String {
        var text = "\(settings.name)=\(value); Path=\(settings.path)"
        if settings.httpOnly { text += "; HttpOnly" }
        if settings.secure { text += "; Secure" }
        if let sameSite = settings.sameSite { text += "; SameSite=\(sameSite.rawValue)" }
        return text
    }

    private static func isCookieOctet(_ byte: UInt8) -> Bool {
        byte == 0x21 || (0x23...0x2B).contains(byte) || (0x2D...0x3A).contains(byte) || (0x3C...0x5B).contains(byte)
            || (0x5D...0x7E).contains(byte)
    }

    private static func trim(_ bytes: Substring.UTF8View) -> Substring.UTF8View {
        var slice = bytes
        while let first = slice.first, first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") {
            slice = slice.dropFirst()
        }
        while let last = slice.last, last == UInt8(ascii: " ") || last == UInt8(ascii: "\t") {
            slice = slice.dropLast()
        }
        return slice
    }
}
