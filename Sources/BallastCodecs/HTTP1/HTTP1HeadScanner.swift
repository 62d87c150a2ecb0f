/// Scans HTTP/1.x request and response heads in place, in the bytes a connection read: no
/// copy, no `String`, no allocation once the head's field list is warm. Strict RFC 9112, so
/// that what Ballast forwards means the same to every server behind it: bare CR or LF, obs-fold,
/// whitespace before a colon, Content-Length beside Transfer-Encoding, a repeated
/// Content-Length or Host and a Transfer-Encoding that does not end in chunked are refused,
/// never forwarded (request smuggling works through exactly these differences).
public enum HTTP1HeadScanner {
    /// Scans a request head at the start of `bytes`. Call again with the same `head` and the
    /// same bytes plus more after `.incomplete`; the search resumes where it stopped.
    public static func scanRequest(
        _ bytes: UnsafeRawBufferPointer, into head: inout HTTP1Head, limits: HTTP1Limits = .init()
    ) -> HTTP1ScanResult {
        switch findEnd(bytes, head: &head, limits: limits, skipLeadingEmptyLines: true) {
        case .incomplete: return .incomplete
        case .failed(let error): return .failed(error)
        case .complete: break
        }
        if let error = requestLine(bytes, head: &head) { return .failed(error) }
        if let error = fields(bytes, head: &head, limits: limits) { return .failed(error) }
        if let error = checkRequestFraming(&head) { return .failed(error) }
        return .complete
    }

    /// Scans a response head at the start of `bytes`, resuming as `scanRequest` does.
    public static func scanResponse(
        _ bytes: UnsafeRawBufferPointer, into head: inout HTTP1Head, limits: HTTP1Limits = .init()
    ) -> HTTP1ScanResult {
        switch findEnd(bytes, head: &head, limits: limits, skipLeadingEmptyLines: false) {
        case .incomplete: return .incomplete
        case .failed(let error): return .failed(error)
        case .complete: break
        }
        if let error = statusLine(bytes, head: &head) { return .failed(error) }
        if let error = fields(bytes, head: &head, limits: limits) { return .failed(error) }
        if head.contentLength != nil && head.hasTransferEncoding {
            // RFC 9112 section 6.3: Transfer-Encoding overrides; the rewriter drops the length.
            head.contentLength = nil
        }
        return .complete
    }

    // MARK: Finding the end

    /// Looks for the empty line that ends the head, checking line endings on the way: every
    /// LF must follow a CR and every CR precede an LF.
    private static func findEnd(
        _ bytes: UnsafeRawBufferPointer, head: inout HTTP1Head, limits: HTTP1Limits, skipLeadingEmptyLines: Bool
    ) -> HTTP1ScanResult {
        let count = min(bytes.count, limits.maxHeadBytes + 1)
        if head.searched > bytes.count || head.lineStart > head.searched || head.start > head.lineStart {
            head.progress = HTTP1Head.Progress()  // progress of other bytes: search these from their start
        }
        var index = head.searched
        var lineStart = head.lineStart
        while index < count {
            // Eight bytes at a time past those that are neither LF, CR nor NUL (most of a head).
            if index + 8 <= count && !SWAR.hasLineByte(bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self)) {
                index += 8
                continue
            }
            let byte = bytes[index]
            if byte == 0x0a {
                guard index > 0, bytes[index - 1] == 0x0d else { return .failed(.malformed("bare LF in the head")) }
                if index - 1 == lineStart {
                    // An empty line: before the start line it is skipped (RFC 9112 section 2.2),
                    // after it the head ends.
                    if lineStart == head.start && skipLeadingEmptyLines && head.start < 8 {
                        head.start = index + 1
                    } else if lineStart == head.start {
                        return .failed(.malformed("the head starts with an empty line"))
                    } else {
                        head.length = index + 1
                        head.searched = index + 1
                        head.lineStart = index + 1
                        return head.length > limits.maxHeadBytes ? tooLarge(limits) : .complete
                    }
                }
                lineStart = index + 1
            } else if byte == 0x0d {
                if index + 1 < count, bytes[index + 1] != 0x0a { return .failed(.malformed("bare CR in the head")) }
            } else if byte == 0 {
                return .failed(.malformed("NUL byte in the head"))
            }
            index += 1
        }
        if bytes.count > limits.maxHeadBytes { return tooLarge(limits) }
        // A CR last may be followed by its LF in the next read: look at it again then.
        head.searched = index > 0 && bytes[index - 1] == 0x0d ? index - 1 : index
        head.lineStart = lineStart
        return .incomplete
    }

    private static func tooLarge(_ limits: HTTP1Limits) -> HTTP1ScanResult {
        .failed(.init(status: 431, reason: "the head is over \(limits.maxHeadBytes) bytes"))
    }

    // MARK: Start lines

    private static func requestLine(_ bytes: UnsafeRawBufferPointer, head: inout HTTP1Head) -> HTTP1HeadError? {
        var index = head.start
        let methodStart = index
        while index < head.length, HTTP1Syntax.isTokenByte(bytes[index]) { index += 1 }
        guard index > methodStart, index < head.length, bytes[index] == 0x20 else {
            return .malformed("the request line does not start with a method and one space")
        }
        head.methodBytes = methodStart..<index
        head.method = method(bytes, methodStart..<index)
        index += 1
        let targetStart = index
        while index < head.length, HTTP1Syntax.isTargetByte(bytes[index]) { index += 1 }
        guard index > targetStart, index < head.length, bytes[index] == 0x20 else {
            return .malformed(
                "the request target is empty, has a space or a control byte, or is not followed by one space")
        }
        head.target = targetStart..<index
        guard isRequestTarget(bytes, targetStart..<index, method: head.method) else {
            return .malformed(
                "the request target is none of the forms of RFC 9112 section 3.2 (/path, http://host/path, host:port for CONNECT, * for OPTIONS)"
            )
        }
        index += 1
        switch version(bytes, at: index, end: head.length) {
        case .success(let minor): head.minorVersion = minor
        case .failure(let error): return error
        }
        index += 8
        guard index + 1 < head.length, bytes[index] == 0x0d else {
            return .malformed("the request line has bytes after the HTTP version")
        }
        head.startLineEnd = index
        return nil
    }

    /// origin-form (`/path`), absolute-form (`scheme:...`), authority-form (CONNECT only) or
    /// asterisk-form (OPTIONS only).
    private static func isRequestTarget(
        _ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, method: HTTP1Method
    ) -> Bool {
        let first = bytes[range.lowerBound]
        if first == 0x2f { return method != .connect }
        if method == .connect { return (range).contains { bytes[$0] == 0x3a } }
        if first == 0x2a { return range.count == 1 && method == .options }
        // absolute-form: a scheme (ALPHA *(ALPHA / DIGIT / "+" / "-" / ".")) then ":".
        guard (first | 0x20) >= 0x61 && (first | 0x20) <= 0x7a else { return false }
        for index in range.dropFirst() {
            let byte = bytes[index]
            if byte == 0x3a { return index + 1 < range.upperBound }
            let letter = (byte | 0x20) >= 0x61 && (byte | 0x20) <= 0x7a
            guard letter || HTTP1Syntax.isDigit(byte) || byte == 0x2b || byte == 0x2d || byte == 0x2e else {
                return false
            }
        }
        return false
    }

    private static func statusLine(_ bytes: UnsafeRawBufferPointer, head: inout HTTP1Head) -> HTTP1HeadError? {
        var index = head.start
        switch version(bytes, at: index, end: head.length) {
        case .success(let minor): head.minorVersion = minor
        case .failure(let error): return error
        }
        index += 8
        guard index + 4 < head.length, bytes[index] == 0x20,
            let status = threeDigits(bytes, at: index + 1), (100...599).contains(status)
        else { return .malformed("the status line has no three-digit status code from 100 to 599") }
        head.status = status
        index += 4
        if bytes[index] == 0x20 {
            index += 1
            while bytes[index] != 0x0d {
                guard HTTP1Syntax.isValueByte(bytes[index]) else {
                    return .malformed("the reason phrase has a control byte")
                }
                index += 1
            }
        }
        guard bytes[index] == 0x0d else {
            return .malformed("the status code is not followed by a space or the line's end")
        }
        head.startLineEnd = index
        return nil
    }

    /// "HTTP/1.0" or "HTTP/1.1" at `index`: the minor version, 505 for another version, 400
    /// for anything else.
    private static func version(_ bytes: UnsafeRawBufferPointer, at index: Int, end: Int) -> Result<Int, HTTP1HeadError>
    {
        guard index + 8 <= end, bytes[index] == 0x48, bytes[index + 1] == 0x54, bytes[index + 2] == 0x54,
            bytes[index + 3] == 0x50, bytes[index + 4] == 0x2f, HTTP1Syntax.isDigit(bytes[index + 5]),
            bytes[index + 6] == 0x2e, HTTP1Syntax.isDigit(bytes[index + 7])
        else { return .failure(.malformed("no HTTP version of the form HTTP/1.1")) }
        guard bytes[index + 5] == 0x31, bytes[index + 7] <= 0x31 else {
            return .failure(.init(status: 505, reason: "HTTP version other than 1.0 and 1.1"))
        }
        return .success(Int(bytes[index + 7] - 0x30))
    }

    private static func threeDigits(_ bytes: UnsafeRawBufferPointer, at index: Int) -> Int? {
        var value = 0
        for offset in 0..<3 {
            let byte = bytes[index + offset]
            guard HTTP1Syntax.isDigit(byte) else { return nil }
            value = value * 10 + Int(byte - 0x30)
        }
        return value
    }

    private static func method(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> HTTP1Method {
        switch range.count {
        case 3:
            if matches(bytes, range, "GET") { return .get }
            if matches(bytes, range, "PUT") { return .put }
        case 4:
            if matches(bytes, range, "POST") { return .post }
            if matches(bytes, range, "HEAD") { return .head }
        case 5:
            if matches(bytes, range, "PATCH") { return .patch }
            if matches(bytes, range, "TRACE") { return .trace }
        case 6:
            if matches(bytes, range, "DELETE") { return .delete }
        case 7:
            if matches(bytes, range, "OPTIONS") { return .options }
            if matches(bytes, range, "CONNECT") { return .connect }
        default:
            break
        }
        return .other
    }

    /// Case-sensitive comparison (methods are case-sensitive).
    private static func matches(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, _ text: StaticString) -> Bool {
        text.withUTF8Buffer { expected in
            guard expected.count == range.count else { return false }
            for offset in 0..<expected.count where bytes[range.lowerBound + offset] != expected[offset] { return false }
            return true
        }
    }

    // MARK: Fields

    private static func fields(
        _ bytes: UnsafeRawBufferPointer, head: inout HTTP1Head, limits: HTTP1Limits
    )
        -> HTTP1HeadError?
    {
        head.fields.removeAll(keepingCapacity: true)
        var index = head.startLineEnd + 2
        let end = head.length - 2  // the empty line
        var contentLengths = 0
        var hosts = 0
        while index < end {
            let lineStart = index
            let first = bytes[index]
            if first == 0x20 || first == 0x09 {
                return .malformed("obs-fold: a header line starts with whitespace")
            }
            while HTTP1Syntax.isTokenByte(bytes[index]) { index += 1 }
            let nameEnd = index
            guard nameEnd > lineStart else { return .malformed("a header line has no field name") }
            guard bytes[index] == 0x3a else {
                return bytes[index] == 0x20 || bytes[index] == 0x09
                    ? .malformed("whitespace between a field name and its colon")
                    : .malformed("a field name has a byte not allowed in a token")
            }
            index += 1
            while bytes[index] == 0x20 || bytes[index] == 0x09 { index += 1 }
            let valueStart = index
            var valueEnd = index
            while bytes[index] != 0x0d {
                // Eight visible bytes at a time (the line's CR is after them).
                if index + 8 <= end && SWAR.allVisible(bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self)) {
                    index += 8
                    valueEnd = index
                    continue
                }
                let byte = bytes[index]
                guard HTTP1Syntax.isValueByte(byte) else { return .malformed("a field value has a control byte") }
                index += 1
                if byte != 0x20 && byte != 0x09 { valueEnd = index }
            }
            index += 2
            guard head.fields.count < limits.maxFields else {
                return .init(status: 431, reason: "more than \(limits.maxFields) header fields")
            }
            let known = fieldName(bytes, lineStart..<nameEnd)
            let value = valueStart..<valueEnd
            head.fields.append(
                HTTP1Field(line: lineStart..<index, name: lineStart..<nameEnd, value: value, known: known))
            switch known {
            case .contentLength:
                contentLengths += 1
                guard contentLengths == 1 else { return .malformed("Content-Length appears more than once") }
                guard let length = decimal(bytes, value) else {
                    return .malformed("Content-Length is not a decimal number below 10^18")
                }
                head.contentLength = length
            case .transferEncoding:
                head.hasTransferEncoding = true
                if let error = transferCodings(bytes, value, head: &head) { return error }
            case .connection:
                connectionTokens(bytes, value, head: &head)
            case .host:
                hosts += 1
                guard hosts == 1 else { return .malformed("Host appears more than once") }
                head.host = value
            case .upgrade:
                head.hasUpgrade = true
            case .expect:
                head.expectsContinue = equalsIgnoringCase(bytes, value, "100-continue")
            default:
                break
            }
        }
        return nil
    }

    /// A list of transfer codings: chunked, when present, must come last and once.
    private static func transferCodings(
        _ bytes: UnsafeRawBufferPointer, _ value: Range<Int>, head: inout HTTP1Head
    )
        -> HTTP1HeadError?
    {
        var sawAny = false
        var result: HTTP1HeadError?
        forEachListElement(bytes, value) { element in
            guard result == nil else { return }
            sawAny = true
            if head.chunked { result = .malformed("Transfer-Encoding has a coding after chunked") }
            // A coding may carry parameters ("gzip;q=1"); only its name decides.
            var nameEnd = element.lowerBound
            while nameEnd < element.upperBound, HTTP1Syntax.isTokenByte(bytes[nameEnd]) { nameEnd += 1 }
            if equalsIgnoringCase(bytes, element.lowerBound..<nameEnd, "chunked") {
                guard nameEnd == element.upperBound else {
                    result = .malformed("Transfer-Encoding chunked has parameters")
                    return
                }
                head.chunked = true
            }
        }
        if result == nil && !sawAny { result = .malformed("Transfer-Encoding is empty") }
        return result
    }

    private static func connectionTokens(_ bytes: UnsafeRawBufferPointer, _ value: Range<Int>, head: inout HTTP1Head) {
        forEachListElement(bytes, value) { token in
            if equalsIgnoringCase(bytes, token, "close") {
                head.connectionClose = true
            } else if equalsIgnoringCase(bytes, token, "keep-alive") {
                head.connectionKeepAlive = true
            } else if equalsIgnoringCase(bytes, token, "upgrade") {
                head.connectionUpgrade = true
            } else {
                head.connectionNamesOthers = true
            }
        }
    }

    /// Calls `body` with each non-empty element of a comma-separated list, trimmed.
    private static func forEachListElement(
        _ bytes: UnsafeRawBufferPointer, _ value: Range<Int>, _ body: (Range<Int>) -> Void
    ) {
        var index = value.lowerBound
        while index < value.upperBound {
            while index < value.upperBound, bytes[index] == 0x20 || bytes[index] == 0x09 || bytes[index] == 0x2c {
                index += 1
            }
            let start = index
            var end = index
            while index < value.upperBound, bytes[index] != 0x2c {
                if bytes[index] != 0x20 && bytes[index] != 0x09 { end = index + 1 }
                index += 1
            }
            if end > start { body(start..<end) }
        }
    }

    /// 1 to 18 decimal digits, nothing else.
    private static func decimal(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Int64? {
        guard !range.isEmpty, range.count <= 18 else { return nil }
        var value: Int64 = 0
        for index in range {
            let byte = bytes[index]
            guard HTTP1Syntax.isDigit(byte) else { return nil }
            value = value * 10 + Int64(byte - 0x30)
        }
        return value
    }

    private static func checkRequestFraming(_ head: inout HTTP1Head) -> HTTP1HeadError? {
        if head.hasTransferEncoding {
            guard head.contentLength == nil else {
                return .malformed(
                    "both Content-Length and Transfer-Encoding: a request smuggling attempt or a broken client")
            }
            guard head.minorVersion == 1 else { return .malformed("Transfer-Encoding in an HTTP/1.0 request") }
            guard head.chunked else { return .malformed("Transfer-Encoding does not end in chunked") }
        }
        if head.minorVersion == 1 && head.host == nil { return .malformed("an HTTP/1.1 request without Host") }
        return nil
    }

    /// The known name a field's bytes spell, compared without regard to case; by length first,
    /// so most names are told apart by one comparison.
    static func fieldName(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> HTTP1FieldName {
        switch range.count {
        case 2: return equalsIgnoringCase(bytes, range, "te") ? .te : .other
        case 4: return equalsIgnoringCase(bytes, range, "host") ? .host : .other
        case 6:
            if equalsIgnoringCase(bytes, range, "cookie") { return .cookie }
            if equalsIgnoringCase(bytes, range, "expect") { return .expect }
        case 7:
            if equalsIgnoringCase(bytes, range, "upgrade") { return .upgrade }
            if equalsIgnoringCase(bytes, range, "trailer") { return .trailer }
        case 9: return equalsIgnoringCase(bytes, range, "forwarded") ? .forwarded : .other
        case 10:
            if equalsIgnoringCase(bytes, range, "connection") { return .connection }
            if equalsIgnoringCase(bytes, range, "keep-alive") { return .keepAlive }
            if equalsIgnoringCase(bytes, range, "set-cookie") { return .setCookie }
        case 13: return equalsIgnoringCase(bytes, range, "authorization") ? .authorization : .other
        case 14: return equalsIgnoringCase(bytes, range, "content-length") ? .contentLength : .other
        case 15: return equalsIgnoringCase(bytes, range, "x-forwarded-for") ? .xForwardedFor : .other
        case 16: return equalsIgnoringCase(bytes, range, "proxy-connection") ? .proxyConnection : .other
        case 17:
            if equalsIgnoringCase(bytes, range, "transfer-encoding") { return .transferEncoding }
            if equalsIgnoringCase(bytes, range, "x-forwarded-proto") { return .xForwardedProto }
        case 18: return equalsIgnoringCase(bytes, range, "proxy-authenticate") ? .proxyAuthenticate : .other
        case 19: return equalsIgnoringCase(bytes, range, "proxy-authorization") ? .proxyAuthorization : .other
        default: break
        }
        return .other
    }

    /// Whether `range` spells `lowercase` in any case: eight bytes at a time from eight on (the
    /// last eight overlapping), byte by byte below.
    @inline(__always)
    static func equalsIgnoringCase(
        _ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, _ lowercase: StaticString
    )
        -> Bool
    {
        let count = lowercase.utf8CodeUnitCount
        guard count == range.count else { return false }
        let expected = UnsafeRawPointer(lowercase.utf8Start)
        guard count >= 8 else {
            for offset in 0..<count {
                var byte = bytes[range.lowerBound + offset]
                if byte &- 0x41 < 26 { byte |= 0x20 }
                if byte != expected.load(fromByteOffset: offset, as: UInt8.self) { return false }
            }
            return true
        }
        var offset = 0
        while true {
            let word = bytes.loadUnaligned(fromByteOffset: range.lowerBound + offset, as: UInt64.self)
            guard SWAR.lowercased(word) == expected.loadUnaligned(fromByteOffset: offset, as: UInt64.self) else {
                return false
            }
            if offset + 8 == count { return true }
            offset = min(offset + 8, count - 8)
        }
    }
}

/// Byte classes of RFC 9110 and 9112.
enum HTTP1Syntax {
    /// tchar: the bytes of a method, field name or coding.
    @inline(__always)
    static func isTokenByte(_ byte: UInt8) -> Bool {
        byte < 64 ? tokenBelow64 >> UInt64(byte) & 1 != 0 : byte < 128 && tokenFrom64 >> UInt64(byte &- 64) & 1 != 0
    }

    /// A request target byte: visible ASCII (no space, no control, no DEL, no 8-bit byte).
    @inline(__always)
    static func isTargetByte(_ byte: UInt8) -> Bool { byte > 0x20 && byte < 0x7f }

    /// A field value byte: visible ASCII, space, tab and obs-text; no other control byte.
    @inline(__always)
    static func isValueByte(_ byte: UInt8) -> Bool { byte >= 0x20 ? byte != 0x7f : byte == 0x09 }

    @inline(__always)
    static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

    @inline(__always)
    static func hexValue(_ byte: UInt8) -> UInt64? {
        switch byte {
        case 0x30...0x39: return UInt64(byte - 0x30)
        case 0x41...0x46: return UInt64(byte - 0x41 + 10)
        case 0x61...0x66: return UInt64(byte - 0x61 + 10)
        default: return nil
        }
    }

    /// The tchar bytes as bits: digits, letters and "!#$%&'*+-.^_`|~" (bit n of the first
    /// word is byte n, of the second byte 64 + n). Constants, so a test costs a shift.
    static let tokenBelow64: UInt64 = 0x03ff_6cfa_0000_0000
    static let tokenFrom64: UInt64 = 0x57ff_ffff_c7ff_fffe
}

/// Tests on eight bytes at once ("SIMD within a register"). Each may report a byte that is not
/// there (a borrow from a lower byte), never miss one: callers then look byte by byte.
enum SWAR {
    private static let ones: UInt64 = 0x0101_0101_0101_0101
    private static let highs: UInt64 = 0x8080_8080_8080_8080

    /// Whether some byte may be below `limit` (at most 0x80).
    @inline(__always)
    static func mayHaveByteBelow(_ word: UInt64, _ limit: UInt8) -> Bool {
        (word &- ones &* UInt64(limit)) & ~word & highs != 0
    }

    /// Whether some byte may be `byte`.
    @inline(__always)
    static func mayHave(_ word: UInt64, _ byte: UInt8) -> Bool {
        mayHaveByteBelow(word ^ (ones &* UInt64(byte)), 1)
    }

    /// Whether some byte may be LF, CR or NUL.
    @inline(__always)
    static func hasLineByte(_ word: UInt64) -> Bool {
        mayHave(word, 0x0a) || mayHave(word, 0x0d) || mayHaveByteBelow(word, 1)
    }

    /// The eight bytes with A to Z made lowercase, every other byte as it was (exact: no byte
    /// borrows from another).
    @inline(__always)
    static func lowercased(_ word: UInt64) -> UInt64 {
        let low7 = word & ~highs
        let atLeastA = low7 &+ ones &* 0x3f  // high bit set where the byte's low 7 bits >= 0x41
        let pastZ = low7 &+ ones &* 0x25  // high bit set where they are >= 0x5b
        let upper = atLeastA & ~pastZ & ~word & highs
        return word | upper >> 2
    }

    /// Whether all eight bytes are surely visible: none a control byte, space, tab or DEL.
    @inline(__always)
    static func allVisible(_ word: UInt64) -> Bool {
        !mayHaveByteBelow(word, 0x21) && !mayHave(word, 0x7f)
    }
}
