/// The header fields a relay acts on, recognised while a head is scanned so that nothing
/// compares names again later.
public enum HTTP1FieldName: UInt8, Sendable {
    case other
    case host
    case contentLength
    case transferEncoding
    case connection
    case keepAlive
    case proxyConnection
    case te
    case trailer
    case upgrade
    case proxyAuthenticate
    case proxyAuthorization
    case cookie
    case setCookie
    case xForwardedFor
    case xForwardedProto
    case forwarded
    case expect
    case authorization

    /// Hop-by-hop fields (RFC 9110 section 7.6.1): they belong to one connection and never
    /// travel on. `Transfer-Encoding` is framing, forwarded with the body it frames.
    public var isHopByHop: Bool {
        switch self {
        case .connection, .keepAlive, .proxyConnection, .te, .trailer, .upgrade, .proxyAuthenticate,
            .proxyAuthorization:
            return true
        default:
            return false
        }
    }
}

/// One header field line, as offsets into the bytes the head was scanned from.
public struct HTTP1Field: Sendable, Hashable {
    /// The whole line, from the name's first byte to just past its CRLF.
    public var line: Range<Int>
    /// The name, without the colon.
    public var name: Range<Int>
    /// The value without surrounding whitespace.
    public var value: Range<Int>
    /// The name, when it is one the relay acts on.
    public var known: HTTP1FieldName
}

/// Request methods the relay treats differently; the rest are `.other`.
public enum HTTP1Method: UInt8, Sendable {
    case get
    case head
    case post
    case put
    case delete
    case options
    case connect
    case trace
    case patch
    case other

    /// Methods a retry may replay on another server (RFC 9110 section 9.2.2).
    public var isIdempotent: Bool {
        switch self {
        case .get, .head, .put, .delete, .options, .trace: return true
        default: return false
        }
    }
}

/// How a message's body is delimited (RFC 9112 section 6.3).
public enum HTTP1BodyFraming: Sendable, Hashable {
    /// No body.
    case none
    /// Exactly this many bytes.
    case length(Int64)
    /// Chunked transfer coding, ended by the last chunk and trailers.
    case chunked
    /// Everything until the server closes (responses only).
    case untilClose
}

/// A scanned request or response head: where each part lies in the bytes it was read from,
/// and the facts about framing and the connection that the relay decides by. Reused from
/// one message to the next, so that scanning allocates nothing once warm.
public struct HTTP1Head: Sendable {
    /// Bytes of the head, start line to the empty line, both CRLFs included; leading empty
    /// lines before a request line count too.
    public var length = 0
    /// Where the start line begins (after any leading empty lines).
    public var start = 0
    /// The request method, or `.other`.
    public var method = HTTP1Method.other
    /// The method's bytes (requests).
    public var methodBytes: Range<Int> = 0..<0
    /// The request target's bytes (requests).
    public var target: Range<Int> = 0..<0
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    public var minorVersion = 1
    /// Where the version ends on the start line; a request line is rewritten by the target and
    /// version only when the relay must.
    public var startLineEnd = 0
    /// The status code (responses).
    public var status = 0
    /// The header fields, in order.
    public var fields: [HTTP1Field] = []
    /// The value of `Content-Length`, when present.
    public var contentLength: Int64?
    /// Whether the final transfer coding is chunked.
    public var chunked = false
    /// Whether `Transfer-Encoding` is present at all.
    public var hasTransferEncoding = false
    /// `Connection: close`.
    public var connectionClose = false
    /// `Connection: keep-alive`.
    public var connectionKeepAlive = false
    /// `Connection: upgrade`.
    public var connectionUpgrade = false
    /// `Connection` names some other field, which is then hop-by-hop too.
    public var connectionNamesOthers = false
    /// An `Upgrade` field is present.
    public var hasUpgrade = false
    /// `Expect: 100-continue`.
    public var expectsContinue = false
    /// The `Host` field's value, when present.
    public var host: Range<Int>?
    /// Progress of the search for the head's end, so that a head arriving in pieces is
    /// searched once.
    var searched = 0
    var lineStart = 0

    /// How far the search for a head's end got: all a connection must keep of a head that has
    /// not arrived whole, so that the head itself (its field storage) can be shared between
    /// connections and the bytes are still searched once.
    public struct Progress: Sendable, Hashable {
        var searched = 0
        var lineStart = 0
        var start = 0

        /// No byte searched yet.
        public init() {}
    }

    /// The search's progress; set it on a reset head to resume a search.
    public var progress: Progress {
        get {
            var progress = Progress()
            progress.searched = searched
            progress.lineStart = lineStart
            progress.start = start
            return progress
        }
        set {
            searched = newValue.searched
            lineStart = newValue.lineStart
            start = newValue.start
        }
    }

    /// An empty head, ready for scanning.
    public init() {
        fields.reserveCapacity(32)
    }

    /// Forgets the last message, keeping storage.
    public mutating func reset() {
        length = 0
        start = 0
        method = .other
        methodBytes = 0..<0
        target = 0..<0
        minorVersion = 1
        startLineEnd = 0
        status = 0
        fields.removeAll(keepingCapacity: true)
        contentLength = nil
        chunked = false
        hasTransferEncoding = false
        connectionClose = false
        connectionKeepAlive = false
        connectionUpgrade = false
        connectionNamesOthers = false
        hasUpgrade = false
        expectsContinue = false
        host = nil
        searched = 0
        lineStart = 0
    }

    /// Whether the connection stays open after this message, by its version and `Connection`.
    public var keepsAlive: Bool {
        minorVersion == 1 ? !connectionClose : connectionKeepAlive && !connectionClose
    }

    /// How the body of a request with this head is delimited.
    public var requestFraming: HTTP1BodyFraming {
        if chunked { return .chunked }
        if let contentLength, contentLength > 0 { return .length(contentLength) }
        return .none
    }

    /// How the body of a response with this head is delimited, given the request it answers
    /// (RFC 9112 section 6.3).
    public func responseFraming(to requestMethod: HTTP1Method) -> HTTP1BodyFraming {
        if requestMethod == .head || (100..<200).contains(status) || status == 204 || status == 304 { return .none }
        if requestMethod == .connect && (200..<300).contains(status) { return .untilClose }
        if hasTransferEncoding { return chunked ? .chunked : .untilClose }
        if let contentLength { return contentLength == 0 ? .none : .length(contentLength) }
        return .untilClose
    }
}

/// Why a head was refused, with the status the relay answers (400, 431 or 505) and a reason
/// for the log line.
public struct HTTP1HeadError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The status to answer with.
    public var status: Int
    /// What was wrong, for the operator.
    public var reason: String

    /// An error answered with `status`.
    public init(status: Int, reason: String) {
        self.status = status
        self.reason = reason
    }

    /// A 400 Bad Request.
    public static func malformed(_ reason: String) -> HTTP1HeadError { .init(status: 400, reason: reason) }

    public var description: String { "\(status): \(reason)" }
}

/// Limits a head must stay within.
public struct HTTP1Limits: Sendable {
    /// Most bytes of a head, CRLFs included.
    public var maxHeadBytes: Int
    /// Most header fields.
    public var maxFields: Int

    /// The limits; HAProxy's defaults are 16 KiB buffers and 101 fields.
    public init(maxHeadBytes: Int = 16 * 1024, maxFields: Int = 100) {
        self.maxHeadBytes = maxHeadBytes
        self.maxFields = maxFields
    }
}

/// What scanning the bytes read so far found.
public enum HTTP1ScanResult: Sendable, Hashable {
    /// The head is complete; `HTTP1Head.length` bytes of it.
    case complete
    /// Valid so far; scan again when more bytes arrive (the head remembers how far it got).
    case incomplete
    /// Refused: answer with the error's status and close, never forward.
    case failed(HTTP1HeadError)
}
