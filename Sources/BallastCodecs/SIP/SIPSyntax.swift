/// Small pieces of RFC 3261 grammar shared by the header readers: lists, parameters,
/// quoted strings.
public enum SIPSyntax {
    /// Splits a comma-separated header value, ignoring commas inside quotes and `<...>`.
    public static func splitList(_ value: Substring) -> [String] {
        var parts: [String] = []
        var current = ""
        var inQuotes = false
        var inAngle = false
        var escaped = false
        for character in value {
            if escaped {
                current.append(character)
                escaped = false
                continue
            }
            switch character {
            case "\\" where inQuotes:
                escaped = true
                current.append(character)
            case "\"":
                inQuotes.toggle()
                current.append(character)
            case "<" where !inQuotes:
                inAngle = true
                current.append(character)
            case ">" where !inQuotes:
                inAngle = false
                current.append(character)
            case "," where !inQuotes && !inAngle:
                let part = Substring(current).trimmingWhitespace()
                if !part.isEmpty { parts.append(String(part)) }
                current = ""
            default:
                current.append(character)
            }
        }
        let part = Substring(current).trimmingWhitespace()
        if !part.isEmpty { parts.append(String(part)) }
        return parts
    }

    /// Reads `;name=value;flag` parameters; names are lowercased, quoted values unquoted.
    /// Nil when a quote is left open.
    public static func parameters(_ text: Substring) -> [(name: String, value: String?)]? {
        var result: [(name: String, value: String?)] = []
        for piece in split(text, on: ";") {
            let trimmed = piece.trimmingWhitespace()
            guard !trimmed.isEmpty else { continue }
            if let equals = trimmed.firstIndex(of: "=") {
                let name = trimmed[..<equals].trimmingWhitespace().lowercased()
                guard let value = unquote(trimmed[trimmed.index(after: equals)...].trimmingWhitespace()) else {
                    return nil
                }
                result.append((name, value))
            } else {
                result.append((trimmed.lowercased(), nil))
            }
        }
        return result
    }

    /// Splits on a separator outside quotes and `<...>`.
    static func split(_ text: Substring, on separator: Character) -> [Substring] {
        var parts: [Substring] = []
        var start = text.startIndex
        var inQuotes = false
        var inAngle = false
        var index = text.startIndex
        var escaped = false
        while index < text.endIndex {
            let character = text[index]
            if escaped {
                escaped = false
            } else if character == "\\" && inQuotes {
                escaped = true
            } else if character == "\"" {
                inQuotes.toggle()
            } else if character == "<" && !inQuotes {
                inAngle = true
            } else if character == ">" && !inQuotes {
                inAngle = false
            } else if character == separator && !inQuotes && !inAngle {
                parts.append(text[start..<index])
                start = text.index(after: index)
            }
            index = text.index(after: index)
        }
        parts.append(text[start...])
        return parts
    }

    /// The text of a quoted string without its quotes and escapes, or the text itself when
    /// not quoted; nil for an unterminated quote.
    public static func unquote(_ text: Substring) -> String? {
        guard text.first == "\"" else { return String(text) }
        guard text.count >= 2, text.last == "\"" else { return nil }
        var result = ""
        var escaped = false
        for character in text.dropFirst().dropLast() {
            if escaped {
                result.append(character)
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else if character == "\"" {
                return nil
            } else {
                result.append(character)
            }
        }
        return escaped ? nil : result
    }

    /// A quoted string for a header value.
    public static func quote(_ text: String) -> String {
        var result = "\""
        for character in text {
            if character == "\"" || character == "\\" { result.append("\\") }
            result.append(character)
        }
        result.append("\"")
        return result
    }
}
