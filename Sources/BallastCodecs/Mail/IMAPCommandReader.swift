/// One IMAP command from a client: its tag, its name (uppercased) and its arguments, with
/// quoted strings unquoted and literals read in.
public struct IMAPCommand: Hashable, Sendable {
    /// The client's tag, echoed in the tagged response.
    public var tag: String
    /// The command name, uppercased: `LOGIN`, `AUTHENTICATE`, `CAPABILITY`.
    public var name: String
    /// Atoms, strings and literals; a parenthesised list stays one raw argument.
    public var arguments: [String]

    /// A command.
    public init(tag: String, name: String, arguments: [String]) {
        self.tag = tag
        self.name = name
        self.arguments = arguments
    }
}

/// Reads IMAP commands from a client's bytes before login (RFC 9051 grammar, the parts a proxy
/// needs): lines ending in CRLF or LF, synchronising `{n}` and non-synchronising `{n+}` literals.
/// Lines and literals are bounded, so a client cannot make it hold more than a few kilobytes.
public struct IMAPCommandReader: Sendable {
    /// What the bytes so far amount to.
    public enum Outcome: Hashable, Sendable {
        /// A whole command.
        case command(IMAPCommand)
        /// A synchronising literal of this size was announced: send a continuation (`+ ...`) and read on.
        case continueLiteral(Int)
        /// More bytes are needed.
        case incomplete
        /// The command cannot be read: answer `tag BAD reason` (tag `*` when unknown); the bytes are dropped.
        case malformed(tag: String, reason: String)
        /// The client went past a limit: answer BAD and close.
        case tooLong
    }

    /// Longest line, literals excluded.
    public let maxLine: Int
    /// Largest literal.
    public let maxLiteral: Int
    private var buffer: [UInt8] = []
    private var acknowledgedLiteralEnd = -1

    /// A reader with these limits.
    public init(maxLine: Int = 8192, maxLiteral: Int = 8192) {
        self.maxLine = maxLine
        self.maxLiteral = maxLiteral
    }

    /// Bytes received and not yet read as a command.
    public var buffered: [UInt8] { buffer }

    /// Adds bytes from the client.
    public mutating func append<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        buffer.append(contentsOf: bytes)
    }

    /// The next outcome; call again after `.command`, `.malformed` or `.continueLiteral` for more.
    public mutating func next() -> Outcome {
        var position = 0
        while true {
            guard let newline = buffer[position...].firstIndex(of: UInt8(ascii: "\n")) else {
                return buffer.count - position > maxLine ? .tooLong : .incomplete
            }
            guard newline - position <= maxLine else { return .tooLong }
            var lineEnd = newline
            if lineEnd > position && buffer[lineEnd - 1] == UInt8(ascii: "\r") { lineEnd -= 1 }
            if let literal = Self.literalAnnouncement(buffer[position..<lineEnd]) {
                guard literal.size <= maxLiteral else { return .tooLong }
                let literalEnd = newline + 1 + literal.size
                // A whole command holds at most two literals' worth (LOGIN's user and password) beyond a line.
                guard literalEnd <= maxLine + 2 * maxLiteral else { return .tooLong }
                if buffer.count >= literalEnd {
                    position = literalEnd
                    continue
                }
                if !literal.nonSynchronising && acknowledgedLiteralEnd != literalEnd {
                    acknowledgedLiteralEnd = literalEnd
                    return .continueLiteral(literal.size)
                }
                return .incomplete
            }
            let command = Array(buffer[..<(newline + 1)])
            buffer.removeFirst(newline + 1)
            acknowledgedLiteralEnd = -1
            return Self.parse(command)
        }
    }

    private static func literalAnnouncement(_ line: ArraySlice<UInt8>) -> (size: Int, nonSynchronising: Bool)? {
        guard line.last == UInt8(ascii: "}"), let open = line.lastIndex(of: UInt8(ascii: "{")) else { return nil }
        var digits = line[(open + 1)..<(line.endIndex - 1)]
        let plus = digits.last == UInt8(ascii: "+")
        if plus { digits = digits.dropLast() }
        guard let size = literalSize(digits) else { return nil }
        return (size, plus)
    }

    /// The size in a literal's `{n}`: one to nine ASCII digits, so never negative and never near
    /// overflow; nil for anything else (a sign, spaces, more digits).
    static func literalSize(_ digits: ArraySlice<UInt8>) -> Int? {
        guard !digits.isEmpty, digits.count <= 9, digits.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        return digits.reduce(0) { $0 * 10 + Int($1 - 48) }
    }

    /// Tokenises one whole command (literals included).
    static func parse(_ bytes: [UInt8]) -> Outcome {
        var index = 0
        func atom() -> String? {
            let start = index
            while index < bytes.count, !Self.isAtomEnd(bytes[index]) { index += 1 }
            return index > start ? String(decoding: bytes[start..<index], as: UTF8.self) : nil
        }
        guard let tag = atom(), tag.utf8.allSatisfy({ $0 > 32 && $0 < 127 && $0 != UInt8(ascii: "+") }) else {
            return .malformed(tag: "*", reason: "a command begins with a tag")
        }
        guard index < bytes.count, bytes[index] == 32 else {
            return .malformed(tag: tag, reason: "no command after the tag")
        }
        index += 1
        guard let name = atom() else { return .malformed(tag: tag, reason: "no command after the tag") }
        var arguments: [String] = []
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\r") || byte == UInt8(ascii: "\n") { break }
            guard byte == 32 else { return .malformed(tag: tag, reason: "arguments are separated by one space") }
            index += 1
            guard index < bytes.count else { break }
            switch bytes[index] {
            case UInt8(ascii: "\""):
                index += 1
                var value: [UInt8] = []
                var closed = false
                while index < bytes.count {
                    let c = bytes[index]
                    if c == UInt8(ascii: "\\") && index + 1 < bytes.count {
                        value.append(bytes[index + 1])
                        index += 2
                        continue
                    }
                    if c == UInt8(ascii: "\"") {
                        closed = true
                        index += 1
                        break
                    }
                    if c == UInt8(ascii: "\r") || c == UInt8(ascii: "\n") { break }
                    value.append(c)
                    index += 1
                }
                guard closed else { return .malformed(tag: tag, reason: "a quoted string is not closed") }
                arguments.append(String(decoding: value, as: UTF8.self))
            case UInt8(ascii: "{"):
                guard let close = bytes[index...].firstIndex(of: UInt8(ascii: "}")) else {
                    return .malformed(tag: tag, reason: "a literal is not announced as {n}")
                }
                var digits = bytes[(index + 1)..<close]
                if digits.last == UInt8(ascii: "+") { digits = digits.dropLast() }
                guard let size = Self.literalSize(digits) else {
                    return .malformed(tag: tag, reason: "a literal is not announced as {n}")
                }
                var start = close + 1
                if start < bytes.count && bytes[start] == UInt8(ascii: "\r") { start += 1 }
                // `size` has at most nine digits, so the sum cannot overflow; compared before any slice.
                guard start < bytes.count, bytes[start] == UInt8(ascii: "\n"), size <= bytes.count - (start + 1) else {
                    return .malformed(tag: tag, reason: "a literal is shorter than announced")
                }
                arguments.append(String(decoding: bytes[(start + 1)..<(start + 1 + size)], as: UTF8.self))
                index = start + 1 + size
            case UInt8(ascii: "("):
                var depth = 0
                let start = index
                while index < bytes.count {
                    if bytes[index] == UInt8(ascii: "(") { depth += 1 }
                    if bytes[index] == UInt8(ascii: ")") { depth -= 1 }
                    index += 1
                    if depth == 0 { break }
                    if bytes[index - 1] == UInt8(ascii: "\n") { break }
                }
                guard depth == 0 else { return .malformed(tag: tag, reason: "a list is not closed") }
                arguments.append(String(decoding: bytes[start..<index], as: UTF8.self))
            default:
                guard let value = atom() else { return .malformed(tag: tag, reason: "an empty argument") }
                arguments.append(value)
            }
        }
        return .command(IMAPCommand(tag: tag, name: name.uppercased(), arguments: arguments))
    }

    private static func isAtomEnd(_ byte: UInt8) -> Bool {
        byte == 32 || byte == UInt8(ascii: "\r") || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "(")
            || byte == UInt8(ascii: ")") || byte == UInt8(ascii: "{") || byte == UInt8(ascii: "\"") || byte < 32
            || byte == 127
    }

    /// `s` as an IMAP quoted string, or a literal when it holds line breaks or is long.
    public static func quoted(_ s: String) -> String {
        if s.utf8.contains(where: { $0 == 13 || $0 == 10 || $0 > 127 }) || s.utf8.count > 1000 {
            return "{\(s.utf8.count)+}\r\n\(s)"
        }
        var out = "\""
        for character in s {
            if character == "\"" || character == "\\" { out.append("\\") }
            out.append(character)
        }
        return out + "\""
    }
}
