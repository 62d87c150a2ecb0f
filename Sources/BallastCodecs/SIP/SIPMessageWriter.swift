/// Writes SIP messages to the wire and builds responses from requests.
public enum SIPMessageWriter {
    /// Whether a From or To value has a `tag` parameter after its address.
    static func hasTag(_ value: String) -> Bool {
        var value = value
        return value.withUTF8 { utf8 in
            let start = (utf8.lastIndex(of: UInt8(ascii: ">")) ?? -1) + 1
            let pattern: [UInt8] = Array(";tag=".utf8)
            guard utf8.count - start >= pattern.count else { return false }
            for offset in start...(utf8.count - pattern.count) {
                // ASCII case folding: setting 0x20 lowercases letters and leaves ";" and "=" alone.
                var match = true
                for index in 0..<pattern.count where utf8[offset + index] | 0x20 != pattern[index] | 0x20 {
                    match = false
                    break
                }
                if match { return true }
            }
            return false
        }
    }

    /// The message's bytes: start line, headers, a `Content-Length` that matches the body.
    public static func encode(_ message: SIPMessage) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(512 + message.body.count)
        func append(_ text: String) {
            var text = text
            text.withUTF8 { bytes.append(contentsOf: $0) }
        }
        switch message.startLine {
        case .request(let method, let uri): append("\(method) \(uri) SIP/2.0\r\n")
        case .response(let status, let reason): append("SIP/2.0 \(status) \(reason)\r\n")
        }
        for header in message.headers where header.name != "Content-Length" {
            append(header.name)
            bytes.append(contentsOf: [UInt8(ascii: ":"), UInt8(ascii: " ")])
            append(header.value)
            bytes.append(contentsOf: [13, 10])
        }
        append("Content-Length: \(message.body.count)\r\n\r\n")
        bytes.append(contentsOf: message.body)
        return bytes
    }

    /// A response to `request` (RFC 3261 8.2.6): Via, From, Call-ID and CSeq copied, the
    /// top Via stamped with the source address, To copied with `toTag` added when it has none.
    /// `topVia`, when the caller has read it already, saves reading it again.
    public static func response(
        to request: SIPMessage, status: Int, reason: String, toTag: String?, sourceHost: String, sourcePort: Int,
        topVia: SIPVia? = nil
    ) -> SIPMessage {
        var response = SIPMessage(startLine: .response(status: status, reason: reason))
        for (index, via) in request.all("Via").enumerated() {
            if index == 0, let parsed = topVia ?? SIPVia(via) {
                response.add("Via", parsed.stamped(sourceHost: sourceHost, sourcePort: sourcePort).description)
            } else {
                response.add("Via", via)
            }
        }
        if let from = request.first("From") { response.add("From", from) }
        if var to = request.first("To") {
            if let toTag, !hasTag(to) { to += ";tag=\(toTag)" }
            response.add("To", to)
        }
        if let callID = request.callID { response.add("Call-ID", callID) }
        if let cseq = request.first("CSeq") { response.add("CSeq", cseq) }
        return response
    }
}
