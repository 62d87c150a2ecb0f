/// One SIP request or response (RFC 3261 section 7), as read from or written to the wire.
///
/// Header names are kept in their long form (`v` becomes `Via`) so that lookups need not
/// know the compact forms; values are kept as text, one entry per header line or per
/// comma-separated value where the header allows lists (`Via`, `Contact`, ...).
public struct SIPMessage: Hashable, Sendable {
    /// The first line.
    public enum StartLine: Hashable, Sendable {
        /// `METHOD request-uri SIP/2.0`.
        case request(method: String, uri: String)
        /// `SIP/2.0 status reason`.
        case response(status: Int, reason: String)
    }

    /// The first line.
    public var startLine: StartLine
    /// Headers in wire order, names in long form.
    public var headers: [SIPHeader]
    /// The body (Content-Length bytes).
    public var body: [UInt8]
    /// A request's SIP version as it came (`SIP/2.0`); a registrar answers any other 505.
    public var version = "SIP/2.0"

    /// A message from its parts.
    public init(startLine: StartLine, headers: [SIPHeader] = [], body: [UInt8] = []) {
        self.startLine = startLine
        self.headers = headers
        self.body = body
    }

    /// The method of a request; nil for a response.
    public var method: String? {
        if case .request(let method, _) = startLine { return method }
        return nil
    }

    /// The status of a response; nil for a request.
    public var status: Int? {
        if case .response(let status, _) = startLine { return status }
        return nil
    }

    /// The first value of a header, by any spelling of its name.
    public func first(_ name: String) -> String? {
        let canonical = SIPHeader.canonicalName(name)
        return headers.first { $0.name == canonical }?.value
    }

    /// Every value of a header, in order.
    public func all(_ name: String) -> [String] {
        let canonical = SIPHeader.canonicalName(name)
        return headers.filter { $0.name == canonical }.map(\.value)
    }

    /// Appends a header.
    public mutating func add(_ name: String, _ value: String) {
        headers.append(SIPHeader(name: name, value: value))
    }

    /// Replaces every value of a header with one, where the first of them stood.
    public mutating func set(_ name: String, _ value: String) {
        let header = SIPHeader(name: name, value: value)
        guard let index = headers.firstIndex(where: { $0.name == header.name }) else {
            headers.append(header)
            return
        }
        headers.removeAll { $0.name == header.name }
        headers.insert(header, at: min(index, headers.count))
    }

    /// The `CSeq` number and method, when well formed.
    public var cseq: (number: UInt32, method: String)? {
        guard let value = first("CSeq") else { return nil }
        let text = Substring(value)
        guard let space = text.utf8.firstIndex(where: { $0 == 32 || $0 == 9 }), let number = UInt32(text[..<space])
        else { return nil }
        let method = text[space...].trimmingWhitespace()
        guard !method.isEmpty, !method.utf8.contains(where: { $0 == 32 || $0 == 9 }) else { return nil }
        return (number, String(method))
    }

    /// The `Call-ID`.
    public var callID: String? { first("Call-ID") }
}

/// One header: its long-form name and its value.
public struct SIPHeader: Hashable, Sendable {
    /// The long form of the name, in its usual capitalisation.
    public var name: String
    /// The value, without surrounding whitespace.
    public var value: String

    /// A header; `name` may be a compact form or any capitalisation.
    public init(name: String, value: String) {
        self.name = SIPHeader.canonicalName(name)
        self.value = value
    }

    /// A header whose name is already in long form.
    init(canonical name: String, value: String) {
        self.name = name
        self.value = value
    }

    /// Headers whose value is a comma-separated list (RFC 3261 7.3.1), split into one entry each.
    static let listHeaders: Set<String> = [
        "Via", "Contact", "Route", "Record-Route", "Allow", "Supported", "Require", "Proxy-Require", "Unsupported",
        "Accept", "Accept-Encoding", "Accept-Language", "Allow-Events", "Path",
    ]

    private static let compact: [String: String] = [
        "i": "Call-ID", "m": "Contact", "e": "Content-Encoding", "l": "Content-Length", "c": "Content-Type",
        "f": "From", "s": "Subject", "k": "Supported", "t": "To", "v": "Via", "o": "Event", "u": "Allow-Events",
        "r": "Refer-To", "b": "Referred-By", "x": "Session-Expires", "y": "Identity", "a": "Accept-Contact",
        "j": "Reject-Contact", "d": "Request-Disposition",
    ]

    /// Known names as written in their usual case, mapped to themselves: the common case
    /// needs no lowercasing.
    private static let exact: Set<String> = Set(known.values)

    private static let known: [String: String] = {
        let names = [
            "Via", "From", "To", "Call-ID", "CSeq", "Contact", "Content-Length", "Content-Type", "Content-Encoding",
            "Max-Forwards", "Expires", "Min-Expires", "User-Agent", "Server", "Allow", "Supported", "Require",
            "Proxy-Require", "Unsupported", "Accept", "Accept-Encoding", "Accept-Language", "Authorization",
            "WWW-Authenticate", "Proxy-Authorization", "Proxy-Authenticate", "Authentication-Info", "Route",
            "Record-Route", "Path", "Date", "Timestamp", "Warning", "Retry-After", "Subject", "Event", "Allow-Events",
            "Refer-To", "Referred-By", "Session-Expires", "Presence-State", "Organization", "Priority",
            "Reply-To", "In-Reply-To", "Call-Info", "Alert-Info", "Error-Info", "MIME-Version", "Identity",
            "Accept-Contact", "Reject-Contact", "Request-Disposition",
        ]
        return Dictionary(uniqueKeysWithValues: names.map { ($0.lowercased(), $0) })
    }()

    /// Every spelling the parser meets often (usual case, lowercase, compact) with its long
    /// form and whether its value is a list: one lookup per header line.
    private static let spellings: [String: (canonical: String, isList: Bool)] = {
        var table: [String: (canonical: String, isList: Bool)] = [:]
        for canonical in known.values {
            let entry = (canonical, listHeaders.contains(canonical))
            table[canonical] = entry
            table[canonical.lowercased()] = entry
        }
        for (short, canonical) in compact {
            table[short] = (canonical, listHeaders.contains(canonical))
            table[short.uppercased()] = (canonical, listHeaders.contains(canonical))
        }
        return table
    }()

    /// The long form of a header name and whether its value is a comma-separated list.
    static func lookup(_ name: String) -> (canonical: String, isList: Bool) {
        if let entry = spellings[name] { return entry }
        let canonical = canonicalName(name)
        return (canonical, listHeaders.contains(canonical))
    }

    /// The long form of a header name: compact forms expanded, known names in their usual case.
    public static func canonicalName(_ name: String) -> String {
        if exact.contains(name) { return name }
        let lower = name.lowercased()
        if lower.utf8.count == 1, let long = compact[lower] { return long }
        return known[lower] ?? name
    }
}
