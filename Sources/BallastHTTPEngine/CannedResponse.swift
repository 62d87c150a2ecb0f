/// Ballast's own short answers, as bytes made once: the status line, a plain-text body
/// naming the status, and `Connection: close` when the relay closes after it.
enum CannedResponse {
    /// The response for `status`, closing or keeping the connection; `headers` are extra
    /// header lines, each ending in CRLF (a challenge, Retry-After).
    static func bytes(status: Int, close: Bool, headers: String = "") -> [UInt8] {
        let index = table.firstIndex { $0.status == status } ?? 0
        guard headers.isEmpty else {
            return make(table[index].status, table[index].reason, close: close, headers: headers)
        }
        return close ? closing[index] : keeping[index]
    }

    /// The plain-text body Ballast answers `status` with, for HTTP/2 streams.
    static func text(status: Int) -> [UInt8] {
        let index = table.firstIndex { $0.status == status } ?? 0
        return Array("\(table[index].status) \(table[index].reason)\n".utf8)
    }

    private static let table: [(status: Int, reason: String)] = [
        (502, "Bad Gateway"), (400, "Bad Request"), (408, "Request Timeout"), (431, "Request Header Fields Too Large"),
        (503, "Service Unavailable"), (504, "Gateway Timeout"), (505, "HTTP Version Not Supported"),
        (401, "Unauthorized"), (403, "Forbidden"), (429, "Too Many Requests"), (501, "Not Implemented"),
    ]

    private static let closing: [[UInt8]] = table.map { make($0.status, $0.reason, close: true) }
    private static let keeping: [[UInt8]] = table.map { make($0.status, $0.reason, close: false) }

    private static func make(_ status: Int, _ reason: String, close: Bool, headers: String = "") -> [UInt8] {
        let body = "\(status) \(reason)\n"
        var head = "HTTP/1.1 \(status) \(reason)\r\nContent-Type: text/plain; charset=utf-8\r\n" + headers
        head += "Content-Length: \(body.utf8.count)\r\n"
        if close { head += "Connection: close\r\n" }
        return Array((head + "\r\n" + body).utf8)
    }
}
