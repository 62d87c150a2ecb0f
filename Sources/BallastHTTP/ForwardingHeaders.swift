public import BallastCore
import BallastCodecs
public import NIOHTTP1

/// Rewrites a request head for the server: forwarding headers per the relay's policy,
/// hop-by-hop headers removed (RFC 9110 section 7.6.1), Ballast's cookie taken out.
public enum ForwardingHeaders {
    /// What the relay knows of the client's request.
    public struct Client: Sendable {
        /// The client's address as Ballast saw it.
        public var address: IPAddress
        /// Whether the client spoke TLS to Ballast.
        public var isTLS: Bool
        /// The relay's own address, for `Forwarded: by=`.
        public var relayAddress: Endpoint?

        /// A client description.
        public init(address: IPAddress, isTLS: Bool, relayAddress: Endpoint? = nil) {
            self.address = address
            self.isTLS = isTLS
            self.relayAddress = relayAddress
        }
    }

    /// Headers that belong to one connection and never travel on.
    static let hopByHop = [
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade", "proxy-authenticate",
        "proxy-authorization",
    ]

    /// Removes the hop-by-hop headers and those `Connection` names (RFC 9110 section 7.6.1), in
    /// either direction; the framing headers stay, and so does `keeping` when given.
    static func removeHopByHop(from headers: inout HTTPHeaders, keeping: String? = nil) {
        let listed = headers[canonicalForm: "connection"].map { $0.lowercased() }
        for name in hopByHop where name != keeping { headers.remove(name: name) }
        for name in listed where name != keeping && name != "content-length" && name != "transfer-encoding" {
            headers.remove(name: name)
        }
    }

    /// The headers to send to the server. `upgrade` keeps `Upgrade` and `Connection: upgrade`.
    public static func rewrite(
        _ headers: HTTPHeaders, settings: HTTPSettings, client: Client, cookieName: String?, upgrade: Bool
    ) -> HTTPHeaders {
        var out = headers
        removeHopByHop(from: &out, keeping: upgrade ? "upgrade" : nil)
        if upgrade { out.replaceOrAdd(name: "Connection", value: "upgrade") }
        if let cookieName {
            let cookies = out["cookie"]
            out.remove(name: "cookie")
            for cookie in cookies {
                if let rest = CookieHeader.removing(named: cookieName, from: cookie) { out.add(name: "Cookie", value: rest) }
            }
        }
        let address = client.address.description
        apply(settings.xForwardedFor, name: "X-Forwarded-For", value: address, to: &out, joined: true)
        apply(
            settings.xForwardedProto, name: "X-Forwarded-Proto", value: client.isTLS ? "https" : "http", to: &out,
            joined: false)
        var element = "for=\(forwardedNode(client.address))"
        if let by = client.relayAddress { element += ";by=\(forwardedNode(by.address))" }
        element += ";proto=\(client.isTLS ? "https" : "http")"
        if let host = headers.first(name: "host"), isForwardedToken(host) { element += ";host=\(host)" }
        else if let host = headers.first(name: "host") { element += ";host=\"\(host)\"" }
        apply(settings.forwarded, name: "Forwarded", value: element, to: &out, joined: true)
        return out
    }

    private static func apply(
        _ policy: HTTPSettings.HeaderPolicy, name: String, value: String, to headers: inout HTTPHeaders, joined: Bool
    ) {
        switch policy {
        case .none:
            return
        case .replace:
            headers.replaceOrAdd(name: name, value: value)
        case .add:
            let existing = headers[name]
            if joined {
                headers.replaceOrAdd(name: name, value: (existing + [value]).joined(separator: ", "))
            } else if existing.isEmpty {
                headers.add(name: name, value: value)
            }
        }
    }

    /// An address as an RFC 7239 node: IPv6 quoted and bracketed.
    static func forwardedNode(_ address: IPAddress) -> String {
        let text = address.description
        return text.contains(":") ? "\"[\(text)]\"" : text
    }

    private static func isForwardedToken(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { byte in
            (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
                || Array("!#$%&'*+-.^_`|~".utf8).contains(byte)
        }
    }
}
