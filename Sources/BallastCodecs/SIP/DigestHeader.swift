/// The parameters of a `Digest` Authorization or WWW-Authenticate value (RFC 7616, RFC 8760),
/// read without trusting them: names lowercased, quoted values unquoted.
public struct DigestHeader: Hashable, Sendable {
    /// Parameters by lowercased name; the first of a repeated name wins.
    public var parameters: [String: String]

    /// Parameters from a dictionary.
    public init(parameters: [String: String]) { self.parameters = parameters }

    /// Reads `Digest name=value, name="value", ...`; nil when the scheme is not Digest or
    /// the list is malformed.
    public init?(_ text: some StringProtocol) {
        let text = Substring(text).trimmingWhitespace()
        guard text.count > 6, text.prefix(6).lowercased() == "digest",
            text.dropFirst(6).first == " " || text.dropFirst(6).first == "\t"
        else { return nil }
        var parameters: [String: String] = [:]
        for part in SIPSyntax.split(text.dropFirst(7), on: ",") {
            let item = part.trimmingWhitespace()
            guard !item.isEmpty else { continue }
            guard let equals = item.utf8.firstIndex(of: UInt8(ascii: "=")) else { return nil }
            let name = item[..<equals].trimmingWhitespace().lowercased()
            guard !name.isEmpty, name.utf8.allSatisfy(SIPMessageParser.isTokenByte),
                let value = SIPSyntax.unquote(item[item.utf8.index(after: equals)...].trimmingWhitespace())
            else { return nil }
            if parameters[name] == nil { parameters[name] = value }
        }
        self.parameters = parameters
    }

    /// A parameter's value.
    public subscript(_ name: String) -> String? { parameters[name] }

    /// A challenge value: `Digest realm="...", nonce="...", algorithm=..., qop="auth"[, stale=true]`.
    public static func challenge(realm: String, nonce: String, algorithm: String, opaque: String? = nil,
        stale: Bool = false) -> String
    {
        var text = "Digest realm=\(SIPSyntax.quote(realm)), nonce=\(SIPSyntax.quote(nonce)), algorithm=\(algorithm)"
        text += ", qop=\"auth\""
        if let opaque { text += ", opaque=\(SIPSyntax.quote(opaque))" }
        if stale { text += ", stale=true" }
        return text
    }
}
