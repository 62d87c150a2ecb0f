/// Small pieces of RFC 3261 grammar shared by the header readers: lists, parameters,
/// quoted strings.
public enum SIPSyntax {
    /// Splits a comma-separated header value, ignoring commas inside quotes and `<...>`.
    public static func splitList(_ value: Substring) -> [String] {
        split(value, on: UInt8(ascii: ",")).compactMap { part in
            let trimmed = part.trimmingWhitespace()
            return trimmed.isEmpty ? nil : String(trimmed)
        }
    }

    /// Reads `;name=value;flag` parameters; names are lowercased, quoted values unquoted.
    /// Nil when a quote is left open.
    public static func parameters(_ text: Substring) -> [(name: String, value: String?)]? {
        var result: [(name: String, value: String?)] = []
        for piece in split(text, on: UInt8(ascii: ";")) {
            let trimmed = piece.trimmingWhitespace()
            guard !trimmed.isEmpty else { continue }
            if let equals = trimmed.utf8.firstIndex(of: UInt8(ascii: "=")) {
                let name = lowercased(trimmed[..<equals].trimmingWhitespace())
                guard let value = unquote(trimmed[trimmed.utf8.index(after: equals)...].trimmingWhitespace()) else {
                    return nil
                }
                result.append((name, value))
            } else {
                result.append((lowercased(trimmed), nil))
            }
        }
        return result
    }

    /// Splits on a separator outside quotes and `<...>`.
    static func split(_ text: Substring, on separator: UInt8) -> [Substring] {
        var parts: [Substring] = []
        var rest = text
        while let index = firstIndex(of: separator, in: rest, outsideAngles: true) {
            parts.append(rest[..<index])
            rest = rest[rest.utf8.index(after: index)...]
        }
        parts.append(rest)
        return parts
    }

    /// The first `target` byte outside quoted strings (and outside `<...>` when
    /// `outsideAngles`). Works on UTF-8 bytes: every delimiter is ASCII, and walking
    /// Characters costs grapheme breaking on the hot path.
    static func firstIndex(of target: UInt8, in text: Substring, outsideAngles: Bool) -> Substring.Index? {
        let utf8 = text.utf8
        var index = utf8.startIndex
        var inQuotes = false
        var inAngle = false
        var escaped = false
        while index != utf8.endIndex {
            let byte = utf8[index]
            if escaped {
                escaped = false
            } else if byte == UInt8(ascii: "\\") && inQuotes {
                escaped = true
            } else if byte == UInt8(ascii: "\"") {
                inQuotes.toggle()
            } else if byte == target && !inQuotes && !(outsideAngles && inAngle) {
                return index
            } else if byte == UInt8(ascii: "<") && !inQuotes {
                inAngle = true
            } else if byte == UInt8(ascii: ">") && !inQuotes {
                inAngle = false
            }
            index = utf8.index(after: index)
        }
        return nil
    }

    /// The text of a quoted string without its quotes and escapes, or the text itself when
    /// not quoted; nil for an unterminated quote.
    public static func unquote(_ text: Substring) -> String? {
        let utf8 = text.utf8
        guard utf8.first == UInt8(ascii: "\"") else { return String(text) }
        guard utf8.count >= 2, utf8.last == UInt8(ascii: "\"") else { return nil }
        var result: [UInt8] = []
        result.reserveCapacity(utf8.count)
        var escaped = false
        for byte in utf8.dropFirst().dropLast() {
            if escaped {
                result.append(byte)
                escaped = false
            } else if byte == UInt8(ascii: "\\") {
                escaped = true
            } else if byte == UInt8(ascii: "\"") {
                return nil
            } else {
                result.append(byte)
            }
        }
        return escaped ? nil : String(decoding: result, as: UTF8.self)
    }

    /// ASCII lowercase; no work beyond a scan when the text has no capital (the usual case).
    static func lowercased(_ text: Substring) -> String {
        text.utf8.contains(where: { $0 >= 65 && $0 <= 90 }) ? text.lowercased() : String(text)
    }

    /// A quoted string for a header value.
    public static func quote(_ text: String) -> String {
        if !text.utf8.contains(where: { $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            return "\"" + text + "\""
        }
        var result = "\""
        for character in text {
            if character == "\"" || character == "\\" { result.append("\\") }
            result.append(character)
        }
        result.append("\"")
        return result
    }
}
