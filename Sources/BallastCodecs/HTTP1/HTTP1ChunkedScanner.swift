/// Follows a chunked body (RFC 9112 section 7.1) as its bytes pass through the relay, to find
/// where the message ends; the bytes are forwarded unchanged. Chunk sizes over 2^60, bare CR
/// or LF, control bytes in extensions and oversized extension or trailer sections are
/// refused, so a body cannot be read two ways by Ballast and the server behind it.
public struct HTTP1ChunkedScanner: Sendable {
    /// What one call found.
    public enum Progress: Sendable, Hashable {
        /// Every byte given belongs to the body; more is to come.
        case needMore
        /// The body ended after this many of the bytes given; the rest is the next message.
        case ended(consumed: Int)
        /// The framing is broken: close the connection, never forward what follows.
        case failed(String)
    }

    private enum State: Sendable {
        case size(digits: Int)
        case extensions
        case sizeLF
        case data
        case dataCR
        case dataLF
        case trailerLineStart
        case trailerLine
        case trailerLF
        case finalLF
        case done
    }

    /// Most bytes of chunk extensions on one size line.
    public static let maxExtensionBytes = 4096
    /// Most bytes of trailer fields after the last chunk.
    public static let maxTrailerBytes = 16 * 1024
    private static let maxSizeDigits = 15

    private var state = State.size(digits: 0)
    private var size: UInt64 = 0
    private var remaining: UInt64 = 0
    private var sectionBytes = 0
    private var sawBWS = false

    /// A scanner at the start of a chunked body.
    public init() {}

    /// Whether the whole body has passed.
    public var isDone: Bool {
        if case .done = state { return true }
        return false
    }

    /// Bytes of chunk data still to come in the current chunk, which the caller may forward
    /// without looking at them.
    public var dataRemaining: UInt64 { remaining }

    /// Follows `bytes`, the next ones of the body.
    public mutating func consume(_ bytes: UnsafeRawBufferPointer) -> Progress {
        run(bytes, compactingInto: nil).progress
    }

    /// Follows `bytes` as `consume` does and moves the chunks' data to the front of them,
    /// dropping sizes, extensions and trailers: the body as a client that reads no chunks
    /// (HTTP/1.0) must get it. Returns the progress and how many data bytes now lead `bytes`.
    public mutating func decode(_ bytes: UnsafeMutableRawBufferPointer) -> (progress: Progress, data: Int) {
        run(UnsafeRawBufferPointer(bytes), compactingInto: bytes.baseAddress)
    }

    private mutating func run(
        _ bytes: UnsafeRawBufferPointer, compactingInto output: UnsafeMutableRawPointer?
    )
        -> (progress: Progress, data: Int)
    {
        var index = 0
        var data = 0
        let count = bytes.count
        while index < count {
            switch state {
            case .data:
                let take = Int(min(UInt64(count - index), remaining))
                if let output, take > 0 {
                    (output + data).copyMemory(from: bytes.baseAddress! + index, byteCount: take)
                    data += take
                }
                remaining -= UInt64(take)
                index += take
                if remaining == 0 { state = .dataCR }
                continue
            case .done:
                return (.ended(consumed: index), data)
            default:
                break
            }
            let byte = bytes[index]
            index += 1
            switch state {
            case .size(let digits):
                if let value = HTTP1Syntax.hexValue(byte), !sawBWS {
                    guard digits < Self.maxSizeDigits else {
                        return (.failed("a chunk size has more than 15 hex digits"), data)
                    }
                    size = size << 4 | value
                    state = .size(digits: digits + 1)
                } else if digits == 0 {
                    return (.failed("a chunk size line does not start with a hex digit"), data)
                } else if byte == 0x20 || byte == 0x09 {
                    sawBWS = true
                } else if byte == 0x3b {
                    sectionBytes = 0
                    state = .extensions
                } else if byte == 0x0d {
                    state = .sizeLF
                } else {
                    return (.failed("a chunk size is followed by a byte that is neither ';' nor CRLF"), data)
                }
            case .extensions:
                if byte == 0x0d {
                    state = .sizeLF
                } else {
                    guard HTTP1Syntax.isValueByte(byte) else {
                        return (.failed("a chunk extension has a control byte"), data)
                    }
                    sectionBytes += 1
                    guard sectionBytes <= Self.maxExtensionBytes else {
                        return (.failed("chunk extensions over \(Self.maxExtensionBytes) bytes"), data)
                    }
                }
            case .sizeLF:
                guard byte == 0x0a else { return (.failed("bare CR after a chunk size"), data) }
                sawBWS = false
                if size == 0 {
                    sectionBytes = 0
                    state = .trailerLineStart
                } else {
                    remaining = size
                    size = 0
                    state = .data
                }
            case .dataCR:
                guard byte == 0x0d else { return (.failed("chunk data longer than its size"), data) }
                state = .dataLF
            case .dataLF:
                guard byte == 0x0a else { return (.failed("bare CR after chunk data"), data) }
                state = .size(digits: 0)
            case .trailerLineStart:
                if byte == 0x0d {
                    state = .finalLF
                } else {
                    guard HTTP1Syntax.isTokenByte(byte) else {
                        return (.failed("a trailer line does not start with a field name"), data)
                    }
                    state = .trailerLine
                    sectionBytes += 1
                }
            case .trailerLine:
                if byte == 0x0d {
                    state = .trailerLF
                } else {
                    guard HTTP1Syntax.isValueByte(byte) else {
                        return (.failed("a trailer field has a control byte"), data)
                    }
                    sectionBytes += 1
                    guard sectionBytes <= Self.maxTrailerBytes else {
                        return (.failed("trailer fields over \(Self.maxTrailerBytes) bytes"), data)
                    }
                }
            case .trailerLF:
                guard byte == 0x0a else { return (.failed("bare CR in the trailer fields"), data) }
                state = .trailerLineStart
            case .finalLF:
                guard byte == 0x0a else { return (.failed("bare CR after the last chunk"), data) }
                state = .done
                return (.ended(consumed: index), data)
            case .data, .done:
                break
            }
        }
        if case .done = state { return (.ended(consumed: index), data) }
        return (.needMore, data)
    }
}
