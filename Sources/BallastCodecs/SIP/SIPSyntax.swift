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
        var scan = ScanState()
        while index != utf8.endIndex {
            if scan.isSeparator(utf8[index], target, outsideAngles: outsideAngles) { return index }
            index = utf8.index(after: index)
        }
        return nil
    }

    /// Where a left-to-right scan of a header value is: in a quoted string (after a backslash),
    /// in `<...>`.
    struct ScanState {
        private var inQuotes = false
        private var inAngle = false
        private var escaped = false

        /// Whether `byte` is `target` outside quotes (and `<...>` when `outsideAngles`); moves past it.
        mutating func isSeparator(_ byte: UInt8, _ target: UInt8, outsideAngles: Bool) -> Bool {
            if escaped {
                escaped = false
            } else if byte == UInt8(ascii: "\\") && inQuotes {
                escaped = true
            } else if byte == UInt8(ascii: "\"") {
                inQuotes.toggle()
            } else if byte == target && !inQuotes && !(outsideAngles && inAngle) {
                return true
            } else if byte == UInt8(ascii: "<") && !inQuotes {
                inAngle = true
            } else if byte == UInt8(ascii: ">") && !inQuotes {
                inAngle = false
            }
            return false
        }
    }

    /// The text of a quoted string without its quotes and escapes, or the text itself when
    /// not quoted; nil for an unterminated quote.
    public static func unquote(_ text: Substring) -> String? {
        guard text.utf8.first == UInt8(ascii: "\"") else { return String(text) }
        if let result = text.utf8.withContiguousStorageIfAvailable({ unquote($0, 0..<$0.count) }) { return result }
        let bytes = Array(text.utf8)
        return unquote(bytes, bytes.indices)
    }

    // MARK: The same on bytes, for the readers of the usual (ASCII) message

    /// `range` without spaces and tabs at either end.
    static func trimmed<C: RandomAccessCollection<UInt8>>(_ bytes: C, _ range: Range<Int>) -> Range<Int>
    where C.Index == Int {
        var lower = range.lowerBound
        var upper = range.upperBound
        while lower < upper, bytes[lower] == 32 || bytes[lower] == 9 { lower += 1 }
        while upper > lower, bytes[upper - 1] == 32 || bytes[upper - 1] == 9 { upper -= 1 }
        return lower..<upper
    }

    /// Calls `part` with each piece of `range` between `separator` bytes outside quotes and
    /// `<...>`, untrimmed, as `split` does.
    static func forEachPart<C: RandomAccessCollection<UInt8>>(
        _ bytes: C, _ range: Range<Int>, separatedBy separator: UInt8, _ part: (Range<Int>) -> Void
    ) where C.Index == Int {
        var scan = ScanState()
        var start = range.lowerBound
        for index in range where scan.isSeparator(bytes[index], separator, outsideAngles: true) {
            part(start..<index)
            start = index + 1
        }
        part(start..<range.upperBound)
    }

    /// `unquote` on bytes.
    static func unquote<C: RandomAccessCollection<UInt8>>(_ bytes: C, _ range: Range<Int>) -> String?
    where C.Index == Int {
        guard range.first.map({ bytes[$0] == UInt8(ascii: "\"") }) == true else {
            return String(decoding: bytes[range], as: UTF8.self)
        }
        guard range.count >= 2, bytes[range.upperBound - 1] == UInt8(ascii: "\"") else { return nil }
        var result: [UInt8] = []
        result.reserveCapacity(range.count)
        var escaped = false
        for byte in bytes[(range.lowerBound + 1)..<(range.upperBound - 1)] {
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
