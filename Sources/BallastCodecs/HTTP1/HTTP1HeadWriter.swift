public import BallastCore

/// What the relay adds to and takes from a request head on its way to a server, compiled to
/// bytes once per client connection so that rewriting a head builds no string.
public struct HTTP1RequestPolicy: Sendable {
    /// X-Forwarded-For policy.
    public var xForwardedFor: HTTPSettings.HeaderPolicy
    /// X-Forwarded-Proto policy.
    public var xForwardedProto: HTTPSettings.HeaderPolicy
    /// Forwarded (RFC 7239) policy.
    public var forwarded: HTTPSettings.HeaderPolicy
    /// The client's address as text, for X-Forwarded-For.
    public var clientAddress: [UInt8]
    /// `for=…;by=…;proto=…` for Forwarded; `;host=…` is added per request.
    public var forwardedElement: [UInt8]
    /// "https" or "http".
    public var proto: [UInt8]
    /// Ballast's persistence cookie, taken out of `Cookie`; nil when the relay sets none.
    public var cookieName: [UInt8]?

    /// The policy for one client connection.
    public init(
        settings: HTTPSettings, client: IPAddress, relayAddress: Endpoint?, isTLS: Bool, cookieName: String?
    ) {
        xForwardedFor = settings.xForwardedFor
        xForwardedProto = settings.xForwardedProto
        forwarded = settings.forwarded
        // Made once per client connection, and only what the policy sends.
        clientAddress = settings.xForwardedFor == .none ? [] : Array(client.description.utf8)
        let protoText = isTLS ? "https" : "http"
        proto = Array(protoText.utf8)
        if settings.forwarded == .none {
            forwardedElement = []
        } else {
            var element = "for=\(Self.node(client))"
            if let relayAddress { element += ";by=\(Self.node(relayAddress.address))" }
            element += ";proto=\(protoText)"
            forwardedElement = Array(element.utf8)
        }
        self.cookieName = cookieName.map { Array($0.utf8) }
    }

    /// An address as an RFC 7239 node: IPv6 quoted and bracketed.
    private static func node(_ address: IPAddress) -> String {
        let text = address.description
        return text.contains(":") ? "\"[\(text)]\"" : text
    }
}

/// Writes heads for the other side of the relay: the client's bytes copied line by line,
/// leaving out the lines that must not travel on and adding the relay's own, into a buffer
/// the caller owns. Nothing is parsed twice and nothing is allocated.
public enum HTTP1HeadWriter {
    /// Writes the server-bound form of a request head scanned from `bytes` into `output`;
    /// returns the bytes written, or nil when they do not fit. `upgrade` keeps the client's
    /// `Upgrade` and sends `Connection: upgrade`.
    public static func writeRequest(
        _ bytes: UnsafeRawBufferPointer, head: HTTP1Head, policy: HTTP1RequestPolicy, upgrade: Bool,
        into output: UnsafeMutableRawBufferPointer
    ) -> Int? {
        var out = Output(buffer: output)
        out.copy(bytes, head.start..<(head.startLineEnd + 2))
        var wroteXFF = false
        var wroteForwarded = false
        var sawXFP = false
        for (position, field) in head.fields.enumerated() {
            switch field.known {
            case .upgrade where upgrade:
                out.copy(bytes, field.line)
                continue
            case _ where field.known.isHopByHop:
                continue
            case .xForwardedFor where policy.xForwardedFor != .none:
                guard policy.xForwardedFor == .add, !wroteXFF else { continue }
                wroteXFF = true
                joined(
                    bytes, head: head, from: position, name: "X-Forwarded-For", known: .xForwardedFor,
                    adding: policy.clientAddress, into: &out)
                continue
            case .forwarded where policy.forwarded != .none:
                guard policy.forwarded == .add, !wroteForwarded else { continue }
                wroteForwarded = true
                if joined(
                    bytes, head: head, from: position, name: "Forwarded", known: .forwarded, adding: nil, into: &out)
                {
                    out.append(", ")
                }
                forwardedElement(bytes, head: head, policy: policy, into: &out)
                out.append("\r\n")
                continue
            case .xForwardedProto:
                sawXFP = true
                if policy.xForwardedProto == .replace { continue }
            case .cookie where policy.cookieName != nil:
                cookieWithout(policy.cookieName!, bytes, field: field, into: &out)
                continue
            default:
                break
            }
            if head.connectionNamesOthers && isNamedByConnection(bytes, head: head, field: field) { continue }
            out.copy(bytes, field.line)
        }
        if policy.xForwardedFor != .none && !wroteXFF {
            out.append("X-Forwarded-For: ")
            out.append(policy.clientAddress)
            out.append("\r\n")
        }
        if policy.xForwardedProto == .replace || (policy.xForwardedProto == .add && !sawXFP) {
            out.append("X-Forwarded-Proto: ")
            out.append(policy.proto)
            out.append("\r\n")
        }
        if policy.forwarded != .none && !wroteForwarded {
            out.append("Forwarded: ")
            forwardedElement(bytes, head: head, policy: policy, into: &out)
            out.append("\r\n")
        }
        if upgrade { out.append("Connection: upgrade\r\n") }
        out.append("\r\n")
        return out.overflowed ? nil : out.count
    }

    /// Writes the client-bound form of a response head: hop-by-hop fields out (except a 101's
    /// `Upgrade`), a `Content-Length` that `Transfer-Encoding` overrides out, then `setCookie`
    /// as a `Set-Cookie` line and `Connection: close` when the relay will close, or
    /// `Connection: upgrade` for a 101. The status line carries the client's version;
    /// `dechunked` drops `Transfer-Encoding` for a body the relay decodes (HTTP/1.0 clients).
    public static func writeResponse(
        _ bytes: UnsafeRawBufferPointer, head: HTTP1Head, setCookie: [UInt8]?, close: Bool,
        clientMinorVersion: Int = 1, dechunked: Bool = false, into output: UnsafeMutableRawBufferPointer
    ) -> Int? {
        var out = Output(buffer: output)
        let switching = head.status == 101
        out.append(clientMinorVersion == 0 ? "HTTP/1.0" : "HTTP/1.1")
        out.copy(bytes, (head.start + 8)..<(head.startLineEnd + 2))
        for field in head.fields {
            switch field.known {
            case .upgrade where switching:
                out.copy(bytes, field.line)
                continue
            case _ where field.known.isHopByHop:
                continue
            case .contentLength where head.hasTransferEncoding:
                continue
            case .transferEncoding where dechunked:
                continue
            default:
                break
            }
            if head.connectionNamesOthers && isNamedByConnection(bytes, head: head, field: field) { continue }
            out.copy(bytes, field.line)
        }
        if let setCookie {
            out.append("Set-Cookie: ")
            out.append(setCookie)
            out.append("\r\n")
        }
        if switching {
            out.append("Connection: upgrade\r\n")
        } else if close {
            out.append("Connection: close\r\n")
        } else if clientMinorVersion == 0 {
            out.append("Connection: keep-alive\r\n")
        }
        out.append("\r\n")
        return out.overflowed ? nil : out.count
    }

    // MARK: Pieces

    /// "Name: v1, v2, …" from every field called `known`, starting at `from`, with `adding`
    /// after them; no CRLF when `adding` is nil (the caller continues the line). Returns
    /// whether any value was copied.
    @discardableResult
    private static func joined(
        _ bytes: UnsafeRawBufferPointer, head: HTTP1Head, from: Int, name: StaticString, known: HTTP1FieldName,
        adding: [UInt8]?, into out: inout Output
    ) -> Bool {
        out.append(name)
        out.append(": ")
        var first = true
        for field in head.fields[from...] where field.known == known && !field.value.isEmpty {
            if !first { out.append(", ") }
            out.copy(bytes, field.value)
            first = false
        }
        if let adding {
            if !first { out.append(", ") }
            out.append(adding)
            out.append("\r\n")
        }
        return !first
    }

    private static func forwardedElement(
        _ bytes: UnsafeRawBufferPointer, head: HTTP1Head, policy: HTTP1RequestPolicy, into out: inout Output
    ) {
        out.append(policy.forwardedElement)
        guard let host = head.host, !host.isEmpty else { return }
        out.append(";host=")
        let token = host.allSatisfy { HTTP1Syntax.isTokenByte(bytes[$0]) }
        if !token { out.append("\"") }
        for index in host {
            let byte = bytes[index]
            if !token && (byte == 0x22 || byte == 0x5c) { out.append("\\") }
            out.byte(byte)
        }
        if !token { out.append("\"") }
    }

    /// A `Cookie` line without the cookie called `name`; no line when nothing is left.
    private static func cookieWithout(
        _ name: [UInt8], _ bytes: UnsafeRawBufferPointer, field: HTTP1Field, into out: inout Output
    ) {
        var wroteAny = false
        var index = field.value.lowerBound
        let end = field.value.upperBound
        while index < end {
            while index < end, bytes[index] == 0x20 || bytes[index] == 0x09 || bytes[index] == 0x3b { index += 1 }
            let start = index
            while index < end, bytes[index] != 0x3b { index += 1 }
            var pairEnd = index
            while pairEnd > start, bytes[pairEnd - 1] == 0x20 || bytes[pairEnd - 1] == 0x09 { pairEnd -= 1 }
            guard pairEnd > start else { continue }
            var keyEnd = start
            while keyEnd < pairEnd, bytes[keyEnd] != 0x3d { keyEnd += 1 }
            while keyEnd > start, bytes[keyEnd - 1] == 0x20 || bytes[keyEnd - 1] == 0x09 { keyEnd -= 1 }
            if keyEnd - start == name.count && name.indices.allSatisfy({ bytes[start + $0] == name[$0] }) { continue }
            if wroteAny {
                out.append("; ")
            } else {
                out.copy(bytes, field.name)
                out.append(": ")
                wroteAny = true
            }
            out.copy(bytes, start..<pairEnd)
        }
        if wroteAny { out.append("\r\n") }
    }

    /// Whether a `Connection` field of the head names this field (RFC 9110 section 7.6.1);
    /// the framing fields are never dropped that way.
    private static func isNamedByConnection(_ bytes: UnsafeRawBufferPointer, head: HTTP1Head, field: HTTP1Field) -> Bool
    {
        if field.known == .contentLength || field.known == .transferEncoding { return false }
        for connection in head.fields where connection.known == .connection {
            var index = connection.value.lowerBound
            let end = connection.value.upperBound
            while index < end {
                while index < end, bytes[index] == 0x20 || bytes[index] == 0x09 || bytes[index] == 0x2c { index += 1 }
                let start = index
                while index < end, bytes[index] != 0x2c, bytes[index] != 0x20, bytes[index] != 0x09 { index += 1 }
                if sameIgnoringCase(bytes, start..<index, field.name) { return true }
            }
        }
        return false
    }

    private static func sameIgnoringCase(_ bytes: UnsafeRawBufferPointer, _ a: Range<Int>, _ b: Range<Int>) -> Bool {
        guard a.count == b.count, !a.isEmpty else { return false }
        for offset in 0..<a.count where bytes[a.lowerBound + offset] | 0x20 != bytes[b.lowerBound + offset] | 0x20 {
            return false
        }
        return true
    }

    /// A cursor into the caller's buffer that notes, rather than traps on, running out of room.
    struct Output {
        let buffer: UnsafeMutableRawBufferPointer
        var count = 0
        var overflowed = false

        mutating func copy(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) {
            guard !overflowed, count + range.count <= buffer.count else {
                overflowed = true
                return
            }
            if !range.isEmpty {
                (buffer.baseAddress! + count).copyMemory(
                    from: bytes.baseAddress! + range.lowerBound, byteCount: range.count)
            }
            count += range.count
        }

        mutating func append(_ bytes: [UInt8]) {
            bytes.withUnsafeBytes { copy($0, 0..<$0.count) }
        }

        mutating func append(_ text: StaticString) {
            text.withUTF8Buffer { copy(UnsafeRawBufferPointer($0), 0..<$0.count) }
        }

        mutating func byte(_ value: UInt8) {
            guard !overflowed, count < buffer.count else {
                overflowed = true
                return
            }
            buffer[count] = value
            count += 1
        }
    }
}
