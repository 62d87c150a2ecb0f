import Glibc

/// One HTTP/2 request's fields as the parts of an HTTP/1.1 head, then that head: an HTTP/2
/// connection's, reused stream after stream for its buffers' capacity.
struct HTTP2RequestHead {
    /// :method, :path, :authority and Host values, one after another; the ranges say where.
    private var values: [UInt8] = []
    private var method: Range<Int> = 0..<0
    private var path: Range<Int> = 0..<0
    private var authority: Range<Int> = 0..<0
    private var host: Range<Int> = 0..<0
    /// The other fields as `name: value` lines.
    private(set) var fieldLines: [UInt8] = []
    /// The Cookie crumbs, joined.
    private(set) var cookies: [UInt8] = []
    private(set) var hasContentLength = false
    /// The HTTP/1.1 head `build` made.
    private(set) var text: [UInt8] = []

    /// Forgets the last stream's fields, keeping the buffers.
    mutating func clear() {
        values.removeAll(keepingCapacity: true)
        fieldLines.removeAll(keepingCapacity: true)
        cookies.removeAll(keepingCapacity: true)
        text.removeAll(keepingCapacity: true)
        method = 0..<0
        path = 0..<0
        authority = 0..<0
        host = 0..<0
        hasContentLength = false
    }

    /// One field of the request, its name lowercased as nghttp2 gives it: pseudo-fields and
    /// Host fill the request line and Host, Cookie crumbs are joined (RFC 9113 section 8.2.3),
    /// :scheme is dropped (:protocol never comes: nghttp2 refuses extended CONNECT).
    mutating func add(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        if name.first == UInt8(ascii: ":") {
            if Self.matches(name, ":method") {
                method = keep(value)
            } else if Self.matches(name, ":path") {
                path = keep(value)
            } else if Self.matches(name, ":authority") {
                authority = keep(value)
            }
        } else if Self.matches(name, "cookie") {
            if !cookies.isEmpty {
                cookies.append(0x3b)
                cookies.append(0x20)
            }
            cookies.append(contentsOf: value)
        } else if Self.matches(name, "host") {
            host = keep(value)
        } else {
            if Self.matches(name, "content-length") { hasContentLength = true }
            fieldLines.append(contentsOf: name)
            fieldLines.append(0x3a)
            fieldLines.append(0x20)
            fieldLines.append(contentsOf: value)
            fieldLines.append(0x0d)
            fieldLines.append(0x0a)
        }
    }

    /// Whether `bytes` are `literal`'s, compared as memory.
    private static func matches(_ bytes: UnsafeRawBufferPointer, _ literal: StaticString) -> Bool {
        guard bytes.count == literal.utf8CodeUnitCount, let base = bytes.baseAddress else { return false }
        return memcmp(base, literal.utf8Start, bytes.count) == 0
    }

    /// Keeps a pseudo-field's or Host's value; returns where it is.
    private mutating func keep(_ value: UnsafeRawBufferPointer) -> Range<Int> {
        let start = values.count
        values.append(contentsOf: value)
        return start..<values.count
    }

    var isConnect: Bool { method.count == 7 && values[method].elementsEqual("CONNECT".utf8) }

    /// Makes `text`: the request line, Host (from :authority, else the Host field), the fields,
    /// the joined Cookie and, for a body of unknown length, chunked framing.
    mutating func build(chunked: Bool) {
        text.removeAll(keepingCapacity: true)
        text.append(contentsOf: values[method])
        text.append(0x20)
        text.append(contentsOf: values[path])
        Self.append(" HTTP/1.1\r\nhost: ", to: &text)
        text.append(contentsOf: values[authority.isEmpty ? host : authority])
        Self.append("\r\n", to: &text)
        text.append(contentsOf: fieldLines)
        if !cookies.isEmpty {
            Self.append("cookie: ", to: &text)
            text.append(contentsOf: cookies)
            Self.append("\r\n", to: &text)
        }
        if chunked { Self.append("transfer-encoding: chunked\r\n", to: &text) }
        Self.append("\r\n", to: &text)
    }

    /// Appends a literal's bytes (the generic append of a `String.UTF8View` goes byte by byte).
    private static func append(_ literal: StaticString, to bytes: inout [UInt8]) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount))
    }
}
