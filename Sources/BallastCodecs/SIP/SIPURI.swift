/// A `sip:` or `sips:` URI (RFC 3261 19.1): enough of it to name users and registrars.
public struct SIPURI: Hashable, Sendable, CustomStringConvertible {
    /// `sip` or `sips`, lowercased.
    public var scheme: String
    /// The user part, if any (not unescaped).
    public var user: String?
    /// The host, lowercased; IPv6 references keep their brackets.
    public var host: String
    /// The port, if given.
    public var port: Int?
    /// URI parameters (`;transport=tls`), names lowercased.
    public var parameters: [(name: String, value: String?)]

    /// A URI from its parts.
    public init(
        scheme: String = "sip", user: String? = nil, host: String, port: Int? = nil,
        parameters: [(name: String, value: String?)] = []
    ) {
        self.scheme = scheme
        self.user = user
        self.host = host
        self.port = port
        self.parameters = parameters
    }

    /// Reads a URI; nil when it is not a sip or sips URI with a host.
    public init?(_ text: some StringProtocol) {
        let text = Substring(text)
        guard let colon = text.firstIndex(of: ":") else { return nil }
        let scheme = text[..<colon].lowercased()
        guard scheme == "sip" || scheme == "sips" else { return nil }
        var rest = text[text.index(after: colon)...]
        if let question = rest.firstIndex(of: "?") { rest = rest[..<question] }
        var user: String?
        if let at = rest.lastIndex(of: "@") {
            let userInfo = rest[..<at]
            let name = userInfo.split(separator: ":", maxSplits: 1).first.map(String.init) ?? ""
            guard !name.isEmpty else { return nil }
            user = name
            rest = rest[rest.index(after: at)...]
        }
        let semicolon = rest.firstIndex(of: ";") ?? rest.endIndex
        let hostPort = rest[..<semicolon]
        guard let parameters = SIPSyntax.parameters(rest[semicolon...]) else { return nil }
        var host: Substring
        var port: Int?
        if hostPort.first == "[" {
            guard let close = hostPort.firstIndex(of: "]") else { return nil }
            host = hostPort[...close]
            let after = hostPort[hostPort.index(after: close)...]
            if !after.isEmpty {
                guard after.first == ":", let value = Int(after.dropFirst()) else { return nil }
                port = value
            }
        } else if let portColon = hostPort.lastIndex(of: ":") {
            host = hostPort[..<portColon]
            guard let value = Int(hostPort[hostPort.index(after: portColon)...]) else { return nil }
            port = value
        } else {
            host = hostPort
        }
        if let port, !(1...65535).contains(port) { return nil }
        guard !host.isEmpty,
            host.utf8.allSatisfy({ $0 > 32 && $0 < 127 && $0 != UInt8(ascii: "<") && $0 != UInt8(ascii: ">") })
        else { return nil }
        self.init(scheme: scheme, user: user, host: host.lowercased(), port: port, parameters: parameters)
    }

    /// The value of a parameter; `.some(nil)` for a flag.
    public func parameter(_ name: String) -> String?? {
        parameters.first { $0.name == name }.map(\.value)
    }

    public var description: String {
        var text = "\(scheme):"
        if let user { text += "\(user)@" }
        text += host
        if let port { text += ":\(port)" }
        for parameter in parameters {
            text += ";\(parameter.name)"
            if let value = parameter.value { text += "=\(value)" }
        }
        return text
    }

    public static func == (lhs: SIPURI, rhs: SIPURI) -> Bool { lhs.description == rhs.description }
    public func hash(into hasher: inout Hasher) { hasher.combine(description) }
}

/// A `name-addr` or `addr-spec` with header parameters, as in From, To and Contact:
/// `"Alice" <sip:alice@example.com>;tag=1234`.
public struct SIPNameAddress: Hashable, Sendable, CustomStringConvertible {
    /// The display name, if any.
    public var displayName: String?
    /// The URI text as written between `<` and `>` (or the whole addr-spec).
    public var uri: String
    /// Header parameters after the address (`tag`, `expires`, `q`), names lowercased.
    public var parameters: [(name: String, value: String?)]

    /// An address from its parts.
    public init(displayName: String? = nil, uri: String, parameters: [(name: String, value: String?)] = []) {
        self.displayName = displayName
        self.uri = uri
        self.parameters = parameters
    }

    /// Reads an address; nil when malformed.
    public init?(_ text: some StringProtocol) {
        let text = Substring(text).trimmingWhitespace()
        guard !text.isEmpty else { return nil }
        if let open = Self.angleOpen(text) {
            guard let close = text[open...].utf8.firstIndex(of: UInt8(ascii: ">")) else { return nil }
            let display = text[..<open].trimmingWhitespace()
            var displayName: String?
            if !display.isEmpty {
                guard let name = SIPSyntax.unquote(display) else { return nil }
                displayName = name
            }
            let uri = text[text.utf8.index(after: open)..<close]
            guard !uri.isEmpty, let parameters = SIPSyntax.parameters(text[text.utf8.index(after: close)...]) else {
                return nil
            }
            self.init(displayName: displayName, uri: String(uri), parameters: parameters)
        } else {
            // addr-spec: the URI ends at the first semicolon; what follows are header parameters.
            let semicolon = text.utf8.firstIndex(of: UInt8(ascii: ";")) ?? text.endIndex
            let uri = text[..<semicolon]
            guard !uri.isEmpty, !uri.utf8.contains(32), let parameters = SIPSyntax.parameters(text[semicolon...]) else {
                return nil
            }
            self.init(uri: String(uri), parameters: parameters)
        }
    }

    private static func angleOpen(_ text: Substring) -> Substring.Index? {
        SIPSyntax.firstIndex(of: UInt8(ascii: "<"), in: text, outsideAngles: false)
    }

    /// The value of a parameter; `.some(nil)` for a flag.
    public func parameter(_ name: String) -> String?? {
        parameters.first { $0.name == name }.map(\.value)
    }

    /// The URI, parsed.
    public var sipURI: SIPURI? { SIPURI(uri) }

    public var description: String {
        var text = ""
        if let displayName { text += SIPSyntax.quote(displayName) + " " }
        text += "<\(uri)>"
        for parameter in parameters {
            text += ";\(parameter.name)"
            if let value = parameter.value { text += "=\(value)" }
        }
        return text
    }

    public static func == (lhs: SIPNameAddress, rhs: SIPNameAddress) -> Bool { lhs.description == rhs.description }
    public func hash(into hasher: inout Hasher) { hasher.combine(description) }
}
