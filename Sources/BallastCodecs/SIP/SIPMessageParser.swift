/// Why bytes are not a SIP message; the text goes into the 400's reason and the log line.
public struct SIPParseError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What was wrong.
    public var description: String

    /// An error saying what was wrong.
    public init(_ description: String) { self.description = description }
}

/// Reads SIP messages (RFC 3261 section 7) from bytes, trusting nothing: lines may end in
/// CRLF or LF, headers may be folded, compact or comma-joined, and every length is checked.
public enum SIPMessageParser {
    /// The largest head (start line and headers) accepted.
    public static let maxHeadSize = 16 * 1024
    /// The largest body accepted.
    public static let maxBodySize = 64 * 1024
    /// The most header lines accepted.
    public static let maxHeaders = 128

    /// The message in one datagram: the body is `Content-Length` bytes when the header is
    /// present (more is ignored, less is an error), else the rest of the datagram.
    public static func parse(datagram bytes: [UInt8]) throws(SIPParseError) -> SIPMessage {
        let start = leadingBlankLines(bytes)
        guard let headEnd = headEnd(bytes, from: start) else {
            throw SIPParseError("the header section has no empty line after it")
        }
        var message = try parseHead(bytes[start..<headEnd.head])
        let available = bytes.count - headEnd.body
        if let length = try contentLength(message) {
            guard length <= available else {
                throw SIPParseError("Content-Length \(length) is more than the \(available) bytes that follow")
            }
            message.body = Array(bytes[headEnd.body..<(headEnd.body + length)])
        } else {
            message.body = Array(bytes[headEnd.body...])
        }
        guard message.body.count <= maxBodySize else { throw SIPParseError("the body is over \(maxBodySize) bytes") }
        return message
    }

    /// On a stream (TCP, TLS): the length of the first whole message in `bytes`, counting
    /// the blank lines before it (keep-alives, RFC 5626); nil when more bytes are needed.
    /// A stream message must carry `Content-Length` (RFC 3261 18.3).
    public static func frameLength(_ bytes: ArraySlice<UInt8>) throws(SIPParseError) -> Int? {
        let base = bytes.startIndex
        let start = leadingBlankLines(bytes)
        guard let headEnd = headEnd(bytes, from: start) else {
            guard bytes.count - (start - base) <= maxHeadSize else {
                throw SIPParseError("the header section is over \(maxHeadSize) bytes")
            }
            return nil
        }
        guard headEnd.head - start <= maxHeadSize else {
            throw SIPParseError("the header section is over \(maxHeadSize) bytes")
        }
        let head = try parseHead(bytes[start..<headEnd.head])
        guard let length = try contentLength(head) else {
            throw SIPParseError("a message on a stream has no Content-Length")
        }
        guard length <= maxBodySize else { throw SIPParseError("the body is over \(maxBodySize) bytes") }
        let total = headEnd.body - base + length
        return total <= bytes.count ? total : nil
    }

    /// The message that `frameLength` delimited; the blank lines before it are skipped.
    public static func parse(frame bytes: ArraySlice<UInt8>) throws(SIPParseError) -> SIPMessage {
        let start = leadingBlankLines(bytes)
        guard let headEnd = headEnd(bytes, from: start) else {
            throw SIPParseError("the header section has no empty line after it")
        }
        var message = try parseHead(bytes[start..<headEnd.head])
        let length = try contentLength(message) ?? 0
        guard headEnd.body + length <= bytes.endIndex else {
            throw SIPParseError("Content-Length \(length) is more than the bytes that follow")
        }
        message.body = Array(bytes[headEnd.body..<(headEnd.body + length)])
        return message
    }

    /// Whether the bytes hold nothing but CR and LF: a keep-alive.
    public static func isKeepAlive(_ bytes: ArraySlice<UInt8>) -> Bool {
        !bytes.isEmpty && bytes.allSatisfy { $0 == 13 || $0 == 10 }
    }

    private static func leadingBlankLines<C: Collection<UInt8>>(_ bytes: C) -> C.Index {
        var index = bytes.startIndex
        while index != bytes.endIndex, bytes[index] == 13 || bytes[index] == 10 { index = bytes.index(after: index) }
        return index
    }

    /// Where the head ends (before the empty line) and where the body starts.
    private static func headEnd<C: Collection<UInt8>>(
        _ bytes: C, from start: C.Index
    ) -> (head: C.Index, body: C.Index)?
    where C.Index == Int {
        var index = start
        let end = bytes.endIndex
        while index < end {
            if bytes[index] == 10 {
                // LF followed by LF, or by CRLF: the empty line.
                let next = index + 1
                if next < end, bytes[next] == 10 { return (lineEnd(bytes, index, from: start), next + 1) }
                if next + 1 < end, bytes[next] == 13, bytes[next + 1] == 10 {
                    return (lineEnd(bytes, index, from: start), next + 2)
                }
            }
            index += 1
        }
        return nil
    }

    private static func lineEnd<C: Collection<UInt8>>(_ bytes: C, _ lf: Int, from start: Int) -> Int
    where C.Index == Int {
        lf > start && bytes[lf - 1] == 13 ? lf - 1 : lf
    }

    private static func contentLength(_ message: SIPMessage) throws(SIPParseError) -> Int? {
        let values = message.all("Content-Length")
        guard let value = values.first else { return nil }
        guard values.allSatisfy({ $0 == value }), !value.isEmpty, value.utf8.count <= 9,
            value.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let length = Int(value)
        else {
            throw SIPParseError("Content-Length is not one decimal number")
        }
        return length
    }

    static func parseHead(_ bytes: ArraySlice<UInt8>) throws(SIPParseError) -> SIPMessage {
        guard bytes.count <= maxHeadSize else { throw SIPParseError("the header section is over \(maxHeadSize) bytes") }
        // One pass: no control characters but tab, and CR only before LF.
        var position = bytes.startIndex
        while position < bytes.endIndex {
            let byte = bytes[position]
            if byte < 32 || byte == 127 {
                if byte == 13 {
                    guard position + 1 < bytes.endIndex, bytes[position + 1] == 10 else {
                        throw SIPParseError("a bare CR in the header section")
                    }
                } else if byte != 9 && byte != 10 {
                    throw SIPParseError("a control character in the header section")
                }
            }
            position += 1
        }
        if let message = try parseUnfoldedASCIIHead(bytes) { return message }
        return try parseHeadGeneral(bytes)
    }

    /// Any head: folded lines, UTF-8. `parseHead` takes the usual ones a faster way.
    static func parseHeadGeneral(_ bytes: ArraySlice<UInt8>) throws(SIPParseError) -> SIPMessage {
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw SIPParseError("the header section is not UTF-8")
        }
        // Split on LF bytes: as Characters, CR LF is one grapheme and would not split.
        var lines: [Substring] = []
        let utf8 = text.utf8
        var start = utf8.startIndex
        var index = utf8.startIndex
        while true {
            if index == utf8.endIndex || utf8[index] == 10 {
                var end = index
                if end > start, utf8[utf8.index(before: end)] == 13 { end = utf8.index(before: end) }
                lines.append(text[start..<end])
                if index == utf8.endIndex { break }
                start = utf8.index(after: index)
            }
            index = utf8.index(after: index)
        }
        guard !lines.isEmpty else { throw SIPParseError("the message is empty") }
        let firstLine = lines.removeFirst()
        let startLine = try parseStartLine(firstLine)
        var unfolded: [Substring] = []
        for line in lines {
            if line.utf8.first == 32 || line.utf8.first == 9 {
                guard let last = unfolded.popLast() else {
                    throw SIPParseError("the first header line starts with whitespace")
                }
                unfolded.append(Substring(last + " " + line.drop { $0 == " " || $0 == "\t" }))
            } else if line.isEmpty {
                throw SIPParseError("an empty line inside the header section")
            } else {
                unfolded.append(line)
            }
        }
        guard unfolded.count <= maxHeaders else { throw SIPParseError("more than \(maxHeaders) header lines") }
        var headers: [SIPHeader] = []
        for line in unfolded {
            guard let colon = line.utf8.firstIndex(of: UInt8(ascii: ":")) else {
                throw SIPParseError("a header line without a colon")
            }
            let name = line[..<colon].trimmingWhitespace()
            guard !name.isEmpty, name.utf8.allSatisfy(isTokenByte) else {
                throw SIPParseError("a header name that is not a token")
            }
            let value = line[line.utf8.index(after: colon)...].trimmingWhitespace()
            let (canonical, isList) = SIPHeader.lookup(String(name))
            if isList {
                for part in SIPSyntax.splitList(value) {
                    headers.append(SIPHeader(canonical: canonical, value: part))
                }
            } else {
                headers.append(SIPHeader(canonical: canonical, value: String(value)))
            }
        }
        var message = SIPMessage(startLine: startLine, headers: headers)
        message.version = version(of: firstLine)
        return message
    }

    /// The usual head, read on bytes without a String of the whole: ASCII only, no folded line.
    /// Nil for anything else, which the general reader takes, with the same answers.
    private static func parseUnfoldedASCIIHead(_ bytes: ArraySlice<UInt8>) throws(SIPParseError) -> SIPMessage? {
        var lines: [Range<Int>] = []
        lines.reserveCapacity(24)
        var start = bytes.startIndex
        var index = bytes.startIndex
        while index <= bytes.endIndex {
            if index == bytes.endIndex || bytes[index] == 10 {
                var end = index
                if end > start, bytes[end - 1] == 13 { end -= 1 }
                if !lines.isEmpty, start < end, bytes[start] == 32 || bytes[start] == 9 { return nil }
                lines.append(start..<end)
                start = index + 1
            } else if bytes[index] >= 128 {
                return nil
            }
            index += 1
        }
        guard let first = lines.first, !first.isEmpty else { return nil }
        let firstLine = Substring(String(decoding: bytes[first], as: UTF8.self))
        let startLine = try parseStartLine(firstLine)
        // The same checks in the same order as the general reader, so that both say the same.
        if lines.dropFirst().contains(where: \.isEmpty) {
            throw SIPParseError("an empty line inside the header section")
        }
        guard lines.count - 1 <= maxHeaders else { throw SIPParseError("more than \(maxHeaders) header lines") }
        var headers: [SIPHeader] = []
        headers.reserveCapacity(lines.count + 4)
        for line in lines.dropFirst() {
            guard let colon = bytes[line].firstIndex(of: UInt8(ascii: ":")) else {
                throw SIPParseError("a header line without a colon")
            }
            let name = SIPSyntax.trimmed(bytes, line.lowerBound..<colon)
            guard !name.isEmpty, bytes[name].allSatisfy(isTokenByte) else {
                throw SIPParseError("a header name that is not a token")
            }
            let value = SIPSyntax.trimmed(bytes, (colon + 1)..<line.upperBound)
            let (canonical, isList) = SIPHeader.lookup(String(decoding: bytes[name], as: UTF8.self))
            if isList {
                SIPSyntax.forEachPart(bytes, value, separatedBy: UInt8(ascii: ",")) { part in
                    let piece = SIPSyntax.trimmed(bytes, part)
                    if !piece.isEmpty {
                        headers.append(
                            SIPHeader(canonical: canonical, value: String(decoding: bytes[piece], as: UTF8.self)))
                    }
                }
            } else {
                headers.append(SIPHeader(canonical: canonical, value: String(decoding: bytes[value], as: UTF8.self)))
            }
        }
        var message = SIPMessage(startLine: startLine, headers: headers)
        if !firstLine.hasSuffix(" SIP/2.0") { message.version = version(of: firstLine) }
        return message
    }

    private static func parseStartLine(_ line: Substring) throws(SIPParseError) -> SIPMessage.StartLine {
        let utf8 = line.utf8
        let firstSpace = utf8.firstIndex(of: 32)
        if line.hasPrefix("SIP/") {
            guard let firstSpace, line[..<firstSpace] == "SIP/2.0" else {
                throw SIPParseError("a status line that is not SIP/2.0")
            }
            let rest = line[utf8.index(after: firstSpace)...]
            let secondSpace = rest.utf8.firstIndex(of: 32) ?? rest.endIndex
            let code = rest[..<secondSpace]
            guard code.utf8.count == 3, let status = Int(code), (100...699).contains(status) else {
                throw SIPParseError("a status code that is not three digits from 100 to 699")
            }
            let reason = secondSpace == rest.endIndex ? "" : String(rest[rest.utf8.index(after: secondSpace)...])
            return .response(status: status, reason: reason)
        }
        guard let firstSpace, let secondSpace = line[utf8.index(after: firstSpace)...].utf8.firstIndex(of: 32) else {
            throw SIPParseError("a request line that is not METHOD URI SIP/2.0")
        }
        let method = line[..<firstSpace]
        let uri = line[utf8.index(after: firstSpace)..<secondSpace]
        let version = line[utf8.index(after: secondSpace)...]
        guard !version.utf8.contains(32) else { throw SIPParseError("a request line that is not METHOD URI SIP/2.0") }
        // Another version is read (SIP/3.0), so that it can be answered 505 rather than dropped.
        guard version == "SIP/2.0" || isVersion(version) else {
            throw SIPParseError("a request line whose version is not SIP/2.0")
        }
        guard !method.isEmpty, method.utf8.allSatisfy(isTokenByte) else {
            throw SIPParseError("a method that is not a token")
        }
        guard !uri.isEmpty, uri.utf8.contains(UInt8(ascii: ":")), uri.utf8.allSatisfy({ $0 > 32 && $0 < 127 }) else {
            throw SIPParseError("a request URI that is not an absolute URI")
        }
        return .request(method: String(method), uri: String(uri))
    }

    /// `SIP/` then digits, a dot and digits.
    static func isVersion(_ text: Substring) -> Bool {
        guard text.hasPrefix("SIP/"), text.utf8.count <= 12 else { return false }
        let parts = text.dropFirst(4).split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 2 && parts.allSatisfy { !$0.isEmpty && $0.utf8.allSatisfy { $0 >= 48 && $0 <= 57 } }
    }

    /// The version at the end of a request line (or `SIP/2.0` for a response).
    static func version(of startLine: Substring) -> String {
        guard !startLine.hasPrefix("SIP/"), let space = startLine.utf8.lastIndex(of: 32) else { return "SIP/2.0" }
        return String(startLine[startLine.utf8.index(after: space)...])
    }

    /// RFC 3261 token characters.
    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "!"), UInt8(ascii: "%"), UInt8(ascii: "*"),
            UInt8(ascii: "_"), UInt8(ascii: "+"), UInt8(ascii: "`"), UInt8(ascii: "'"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }
}

extension Substring {
    /// Without spaces and tabs at either end, by UTF-8 bytes.
    func trimmingWhitespace() -> Substring {
        let utf8 = self.utf8
        var start = utf8.startIndex
        var end = utf8.endIndex
        while start != end, utf8[start] == 32 || utf8[start] == 9 { start = utf8.index(after: start) }
        while end != start {
            let before = utf8.index(before: end)
            guard utf8[before] == 32 || utf8[before] == 9 else { break }
            end = before
        }
        return self[start..<end]
    }
}
