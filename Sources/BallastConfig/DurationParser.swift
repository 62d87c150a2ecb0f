/// Durations as config files write them: `500ms`, `2s`, `30m`, `1h30m`, or whole seconds.
enum DurationParser {
    /// The form, for error messages.
    static let expectedForm = "a duration such as 500ms, 2s, 30m or 1h30m (a bare number is seconds)"

    static func parse(_ text: String) -> Duration? {
        let trimmed = text.trimmingWhitespace()
        guard !trimmed.isEmpty else { return nil }
        if let seconds = Int(trimmed), seconds >= 0 { return .seconds(seconds) }
        var total = Duration.zero
        var number = ""
        var unit = ""
        var sawPart = false

        func flush() -> Bool {
            guard !number.isEmpty, let value = Int(number) else { return false }
            switch unit {
            case "ms": total += .milliseconds(value)
            case "s": total += .seconds(value)
            case "m": total += .seconds(value * 60)
            case "h": total += .seconds(value * 3600)
            case "d": total += .seconds(value * 86400)
            default: return false
            }
            number = ""
            unit = ""
            sawPart = true
            return true
        }

        for character in trimmed {
            if character.isASCII && character.isNumber {
                if !unit.isEmpty {
                    guard flush() else { return nil }
                }
                number.append(character)
            } else if character.isASCII && character.isLetter {
                guard !number.isEmpty else { return nil }
                unit.append(character)
            } else {
                return nil
            }
        }
        guard flush(), sawPart else { return nil }
        return total
    }

    /// `1800s` -> `30m`, for messages and `ballast check` output.
    static func format(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let millis = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        if millis % 1000 != 0 { return "\(millis)ms" }
        if seconds % 3600 == 0 && seconds > 0 { return "\(seconds / 3600)h" }
        if seconds % 60 == 0 && seconds > 0 { return "\(seconds / 60)m" }
        return "\(seconds)s"
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var scalars = Substring(self)
        while let first = scalars.first, first.isWhitespace { scalars = scalars.dropFirst() }
        while let last = scalars.last, last.isWhitespace { scalars = scalars.dropLast() }
        return String(scalars)
    }
}

extension Duration {
    /// The duration as a config file writes it: `500ms`, `2s`, `30m`, `1h`.
    public var configText: String { DurationParser.format(self) }

    /// A duration written as in a config file (`500ms`, `2s`, `1h30m`; a bare number is seconds).
    public init?(configText text: String) {
        guard let duration = DurationParser.parse(text) else { return nil }
        self = duration
    }
}
