/// The parameters of a `Digest` Authorization or WWW-Authenticate value (RFC 7616, RFC 8760),
/// read without trusting them: names lowercased, quoted values unquoted.
public struct DigestHeader: Hashable, Sendable {
    /// Parameters in order, names lowercased; a handful, so a list beats a dictionary.
    private var pairs: [(name: String, value: String)]

    /// Parameters by lowercased name; the first of a repeated name wins.
    public var parameters: [String: String] {
        Dictionary(pairs.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
    }

    /// Parameters from a dictionary.
    public init(parameters: [String: String]) {
        pairs = parameters.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// Reads `Digest name=value, name="value", ...`; nil when the scheme is not Digest or
    /// the list is malformed.
    public init?(_ text: some StringProtocol) {
        var copy = String(text)
        switch copy.withUTF8({ DigestHeader.readASCII($0) }) {
        case .read(let pairs): self.init(pairs: pairs)
        case .malformed: return nil
        case .notASCII: self.init(general: copy)
        }
    }

    private init(pairs: [(name: String, value: String)]) { self.pairs = pairs }

    /// What the byte reader made of a value.
    private enum ByteReading {
        case read([(name: String, value: String)])
        case malformed
        case notASCII
    }

    /// `init(general:)` on bytes, for the usual all-ASCII value: the same answers, fewer Strings.
    private static func readASCII(_ bytes: UnsafeBufferPointer<UInt8>) -> ByteReading {
        guard !bytes.contains(where: { $0 >= 128 }) else { return .notASCII }
        func isSpace(_ byte: UInt8) -> Bool { byte == 32 || byte == 9 }
        func lowered(_ range: Range<Int>) -> String {
            String(unsafeUninitializedCapacity: range.count) { buffer in
                for (offset, byte) in bytes[range].enumerated() {
                    buffer[offset] = byte >= 65 && byte <= 90 ? byte + 32 : byte
                }
                return range.count
            }
        }
        let text = SIPSyntax.trimmed(bytes, 0..<bytes.count)
        guard text.count > 7, let space = bytes[text].firstIndex(where: isSpace),
            lowered(text.lowerBound..<space) == "digest"
        else { return .malformed }
        var pairs: [(name: String, value: String)] = []
        pairs.reserveCapacity(12)
        var failed = false
        SIPSyntax.forEachPart(bytes, (space + 1)..<text.upperBound, separatedBy: UInt8(ascii: ",")) { part in
            let item = SIPSyntax.trimmed(bytes, part)
            guard !failed, !item.isEmpty else { return }
            guard let equals = bytes[item].firstIndex(of: UInt8(ascii: "=")) else { return failed = true }
            let nameRange = SIPSyntax.trimmed(bytes, item.lowerBound..<equals)
            guard !nameRange.isEmpty, bytes[nameRange].allSatisfy(SIPMessageParser.isTokenByte),
                let value = SIPSyntax.unquote(bytes, SIPSyntax.trimmed(bytes, (equals + 1)..<item.upperBound))
            else { return failed = true }
            let name = lowered(nameRange)
            if !pairs.contains(where: { $0.name == name }) { pairs.append((name, value)) }
        }
        return failed ? .malformed : .read(pairs)
    }

    /// Reads any value, UTF-8 included: `init` takes the usual ones a faster way.
    init?(general text: some StringProtocol) {
        let text = Substring(text).trimmingWhitespace()
        let utf8 = text.utf8
        guard utf8.count > 7, let space = utf8.firstIndex(where: { $0 == 32 || $0 == 9 }),
            SIPSyntax.lowercased(text[..<space]) == "digest"
        else { return nil }
        var pairs: [(name: String, value: String)] = []
        pairs.reserveCapacity(12)
        for part in SIPSyntax.split(text[utf8.index(after: space)...], on: UInt8(ascii: ",")) {
            let item = part.trimmingWhitespace()
            guard !item.isEmpty else { continue }
            guard let equals = item.utf8.firstIndex(of: UInt8(ascii: "=")) else { return nil }
            let name = SIPSyntax.lowercased(item[..<equals].trimmingWhitespace())
            guard !name.isEmpty, name.utf8.allSatisfy(SIPMessageParser.isTokenByte),
                let value = SIPSyntax.unquote(item[item.utf8.index(after: equals)...].trimmingWhitespace())
            else { return nil }
            if !pairs.contains(where: { $0.name == name }) { pairs.append((name, value)) }
        }
        self.pairs = pairs
    }

    /// A parameter's value.
    public subscript(_ name: String) -> String? { pairs.first { $0.name == name }?.value }

    public static func == (lhs: DigestHeader, rhs: DigestHeader) -> Bool { lhs.parameters == rhs.parameters }
    public func hash(into hasher: inout Hasher) { hasher.combine(parameters) }

    /// A challenge value: `Digest realm="...", nonce="...", algorithm=..., qop="auth"[, stale=true]`.
    public static func challenge(realm: String, nonce: String, algorithm: String, stale: Bool = false) -> String {
        var text = "Digest realm=\(SIPSyntax.quote(realm)), nonce=\(SIPSyntax.quote(nonce)), algorithm=\(algorithm)"
        text += ", qop=\"auth\""
        if stale { text += ", stale=true" }
        return text
    }
}
