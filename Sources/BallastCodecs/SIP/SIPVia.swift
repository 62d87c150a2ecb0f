/// One `Via` value (RFC 3261 20.42): `SIP/2.0/UDP host:port;branch=z9hG4bK...;rport`.
public struct SIPVia: Hashable, Sendable, CustomStringConvertible {
    /// The transport, uppercased (`UDP`, `TCP`, `TLS`).
    public var transport: String
    /// The sent-by host.
    public var host: String
    /// The sent-by port, if given.
    public var port: Int?
    /// Parameters, names lowercased, in order.
    public var parameters: [(name: String, value: String?)]

    /// Reads a Via value; nil when malformed.
    public init?(_ text: some StringProtocol) {
        let text = Substring(text).trimmingWhitespace()
        let utf8 = text.utf8
        let semicolon = utf8.firstIndex(of: UInt8(ascii: ";")) ?? utf8.endIndex
        // "SIP/2.0/UDP" then whitespace then sent-by.
        let head = text[..<semicolon]
        guard let space = head.utf8.firstIndex(where: { $0 == 32 || $0 == 9 }) else { return nil }
        let protocolText = head[..<space]
        let sentBy = head[space...].trimmingWhitespace()
        guard !sentBy.isEmpty, !sentBy.utf8.contains(where: { $0 == 32 || $0 == 9 }) else { return nil }
        let prefix = protocolText.utf8.prefix(8)
        guard prefix.count == 8, String(decoding: prefix, as: UTF8.self).uppercased() == "SIP/2.0/" else { return nil }
        let transport = protocolText[protocolText.utf8.index(protocolText.startIndex, offsetBy: 8)...]
        guard !transport.isEmpty, !transport.utf8.contains(UInt8(ascii: "/")) else { return nil }
        guard let parameters = SIPSyntax.parameters(text[semicolon...]) else { return nil }
        var host = sentBy
        var port: Int?
        if sentBy.utf8.first == UInt8(ascii: "[") {
            guard let close = sentBy.utf8.firstIndex(of: UInt8(ascii: "]")) else { return nil }
            host = sentBy[...close]
            let after = sentBy[sentBy.utf8.index(after: close)...]
            if !after.isEmpty {
                guard after.utf8.first == UInt8(ascii: ":"), let value = Int(after.dropFirst()),
                    (1...65535).contains(value)
                else { return nil }
                port = value
            }
        } else if let colon = sentBy.utf8.lastIndex(of: UInt8(ascii: ":")) {
            host = sentBy[..<colon]
            guard let value = Int(sentBy[sentBy.utf8.index(after: colon)...]), (1...65535).contains(value) else {
                return nil
            }
            port = value
        }
        guard !host.isEmpty else { return nil }
        self.transport = transport.uppercased()
        self.host = String(host)
        self.port = port
        self.parameters = parameters
    }

    /// The `branch` parameter.
    public var branch: String? { parameters.first { $0.name == "branch" }?.value ?? nil }

    /// Whether the client asked for `rport` (RFC 3581).
    public var wantsRport: Bool { parameters.contains { $0.name == "rport" } }

    /// The Via a server returns in its response: `received` set to the source address and,
    /// when the client asked for it, `rport` filled with the source port (RFC 3261 18.2.1,
    /// RFC 3581).
    public func stamped(sourceHost: String, sourcePort: Int) -> SIPVia {
        var copy = self
        let rport = wantsRport
        copy.parameters.removeAll { $0.name == "received" || ($0.name == "rport" && rport) }
        if host != sourceHost || rport { copy.parameters.append(("received", sourceHost)) }
        if rport { copy.parameters.append(("rport", String(sourcePort))) }
        return copy
    }

    public var description: String {
        var text = "SIP/2.0/\(transport) \(host)"
        if let port { text += ":\(port)" }
        for parameter in parameters {
            text += ";\(parameter.name)"
            if let value = parameter.value { text += "=\(value)" }
        }
        return text
    }

    public static func == (lhs: SIPVia, rhs: SIPVia) -> Bool { lhs.description == rhs.description }
    public func hash(into hasher: inout Hasher) { hasher.combine(description) }
}
