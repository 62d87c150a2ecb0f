/// One POP3 command: its name, uppercased, and the rest of the line.
public struct POP3Command: Hashable, Sendable {
    /// `USER`, `PASS`, `CAPA`, `STLS`, `QUIT`, `AUTH`.
    public var name: String
    /// The text after the name and one space; empty when none.
    public var argument: String

    /// A command.
    public init(name: String, argument: String) {
        self.name = name
        self.argument = argument
    }
}

/// Reads POP3 command lines (RFC 1939, 2449) from a client's bytes; a line is at most `maxLine` bytes.
public struct POP3CommandReader: Sendable {
    /// What the bytes so far amount to.
    public enum Outcome: Hashable, Sendable {
        case command(POP3Command)
        case incomplete
        /// Not a command: answer `-ERR` and read on.
        case malformed(reason: String)
        /// Past the line limit: answer `-ERR` and close.
        case tooLong
    }

    /// Longest line.
    public let maxLine: Int
    private var buffer: [UInt8] = []

    /// A reader with this limit (RFC 2449 allows 255 bytes; a little more is tolerated).
    public init(maxLine: Int = 1024) { self.maxLine = maxLine }

    /// Adds bytes from the client.
    public mutating func append<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        buffer.append(contentsOf: bytes)
    }

    /// Bytes received and not yet read as a command.
    public var buffered: [UInt8] { buffer }

    /// The next raw line, as a SASL response is read; nil when incomplete. `tooLong` when past the limit.
    public mutating func nextLine() -> (line: String?, tooLong: Bool) {
        guard let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) else { return (nil, buffer.count > maxLine) }
        guard newline <= maxLine else { return (nil, true) }
        var end = newline
        if end > 0 && buffer[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        let line = String(decoding: buffer[..<end], as: UTF8.self)
        buffer.removeFirst(newline + 1)
        return (line, false)
    }

    /// The next outcome.
    public mutating func next() -> Outcome {
        guard let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) else {
            return buffer.count > maxLine ? .tooLong : .incomplete
        }
        guard newline <= maxLine else { return .tooLong }
        var end = newline
        if end > 0 && buffer[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        let line = Array(buffer[..<end])
        buffer.removeFirst(newline + 1)
        guard !line.contains(where: { $0 < 32 && $0 != 9 }) else {
            return .malformed(reason: "control characters in a command")
        }
        let space = line.firstIndex(of: 32) ?? line.endIndex
        let name = String(decoding: line[..<space], as: UTF8.self).uppercased()
        guard !name.isEmpty, name.utf8.count <= 8, name.utf8.allSatisfy({ $0 >= 65 && $0 <= 90 }) else {
            return .malformed(reason: "unknown command")
        }
        let argument = space < line.endIndex ? String(decoding: line[(space + 1)...], as: UTF8.self) : ""
        return .command(POP3Command(name: name, argument: argument))
    }
}
