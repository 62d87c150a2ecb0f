import Foundation

/// What a witness said about a site, read from its whole HTTP reply: a 200 whose JSON body names
/// the site asked about and says whether it is lost. Anything else is no answer, so a witness
/// that answers oddly never starts a failover.
public struct WitnessAnswer: Sendable, Equatable, Decodable {
    /// The site the witness answered about.
    public var site: String
    /// True when the witness reached none of the site's addresses.
    public var lost: Bool

    /// A verdict on `site`.
    public init(site: String, lost: Bool) {
        self.site = site
        self.lost = lost
    }

    /// Why a reply gave no verdict.
    public enum ReadError: Error, Equatable, CustomStringConvertible {
        /// The reply did not end its header block.
        case truncated
        /// Not an HTTP 200.
        case status(String)
        /// The body is not the witness's JSON (`{"site": ..., "lost": true|false}`).
        case body(String)
        /// The verdict is about another site.
        case otherSite(asked: String, answered: String)

        public var description: String {
            switch self {
            case .truncated: "the witness's reply ended before its headers did"
            case .status(let line): "the witness answered \(line.isEmpty ? "nothing" : "'\(line)'") instead of 200 OK"
            case .body(let reason): "the witness's answer is not its JSON verdict: \(reason)"
            case .otherSite(let asked, let answered):
                "asked about site \(asked), the witness answered about \(answered)"
            }
        }
    }

    /// The verdict in `reply` (status line, headers and body as received) for `site`.
    public static func read(reply: [UInt8], site: String) throws(ReadError) -> WitnessAnswer {
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        guard let end = reply.firstRange(of: separator) else { throw .truncated }
        let head = String(decoding: reply[..<end.lowerBound], as: UTF8.self)
        var lines = head.split(separator: "\r\n", omittingEmptySubsequences: false).map(String.init)
        let statusLine = lines.isEmpty ? "" : lines.removeFirst()
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), parts[1] == "200" else { throw .status(statusLine) }
        var body = Array(reply[end.upperBound...])
        let chunked = lines.contains { line in
            let pair = line.split(separator: ":", maxSplits: 1)
            return pair.count == 2 && pair[0].trimmingCharacters(in: .whitespaces).lowercased() == "transfer-encoding"
                && pair[1].lowercased().contains("chunked")
        }
        if chunked { body = try dechunk(body) }
        let answer: WitnessAnswer
        do {
            answer = try JSONDecoder().decode(WitnessAnswer.self, from: Data(body))
        } catch {
            throw .body(String(describing: error).prefix(200).description)
        }
        guard answer.site == site else { throw .otherSite(asked: site, answered: answer.site) }
        return answer
    }

    /// The body of a chunked reply, each size checked before it is used.
    private static func dechunk(_ bytes: [UInt8]) throws(ReadError) -> [UInt8] {
        var out: [UInt8] = []
        var index = 0
        let crlf: [UInt8] = [13, 10]
        while true {
            guard let lineEnd = bytes[index...].firstRange(of: crlf) else {
                throw .body("a chunk size line is cut short")
            }
            let sizeText =
                String(decoding: bytes[index..<lineEnd.lowerBound], as: UTF8.self).split(separator: ";").first ?? ""
            guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16), size >= 0,
                size <= bytes.count - lineEnd.upperBound
            else { throw .body("a chunk size is not a hex number within the reply") }
            if size == 0 { return out }
            out += bytes[lineEnd.upperBound..<(lineEnd.upperBound + size)]
            index = lineEnd.upperBound + size
            guard bytes.count - index >= 2, bytes[index] == 13, bytes[index + 1] == 10 else {
                throw .body("a chunk does not end in CRLF")
            }
            index += 2
        }
    }
}
