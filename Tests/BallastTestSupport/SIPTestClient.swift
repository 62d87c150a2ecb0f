public import BallastCodecs
public import BallastCore
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A small SIP user agent over plain POSIX sockets (UDP, or TCP through `TestSocket`), for
/// tests that check exact headers: it builds requests, answers digest challenges and
/// reads responses. Real third-party clients (sipsak, Net::SIP) are used alongside it.
public final class SIPTestClient {
    /// Why the client failed.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String

        /// A failure saying what happened.
        public init(description: String) { self.description = description }
    }

    private enum Transport {
        case udp(Int32)
        case tcp(TestSocket)
    }

    private let transport: Transport
    private let port: Int
    private var buffered: [UInt8] = []
    /// Local tag and Call-ID kept across requests, as a phone keeps them for its registration.
    public var callID = "\(UInt64.random(in: 1...UInt64.max))@sip-test"
    private let tag = "\(UInt32.random(in: 1...UInt32.max))"
    private var cseq: UInt32 = 0

    /// A client sending to `host`:`port` over UDP, or over TCP when `tcp` is set, from `source`
    /// (any 127.0.0.0/8 address) when given, so that one machine can play several phones' addresses.
    public init(
        port: Int, host: String = "127.0.0.1", source: String? = nil, tcp: Bool = false, timeout: Duration = .seconds(3)
    ) throws {
        self.port = port
        if tcp {
            transport = .tcp(try TestSocket(port: port, source: source, destination: host, timeout: timeout))
            return
        }
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: \(String(cString: strerror(errno)))") }
        if let source, TestSocket.withAddress(source, port: 0, { bind(fd, $0, $1) }) != 0 {
            Glibc.close(fd)
            throw Failure(description: "bind to \(source): \(String(cString: strerror(errno)))")
        }
        let (seconds, attoseconds) = timeout.components
        var tv = timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        guard TestSocket.withAddress(host, port: port, { connect(fd, $0, $1) }) == 0 else {
            Glibc.close(fd)
            throw Failure(description: "connect: \(String(cString: strerror(errno)))")
        }
        transport = .udp(fd)
    }

    deinit {
        if case .udp(let fd) = transport { Glibc.close(fd) }
    }

    /// The local port, for the Via.
    public var localPort: Int {
        switch transport {
        case .tcp(let socket): return socket.localPort
        case .udp(let fd):
            var address = sockaddr_in()
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
            return Int(UInt16(bigEndian: address.sin_port))
        }
    }

    private var transportName: String {
        if case .tcp = transport { return "TCP" }
        return "UDP"
    }

    /// Sends raw bytes (a datagram, or bytes on the stream).
    public func sendRaw(_ bytes: [UInt8]) throws {
        switch transport {
        case .tcp(let socket): try socket.send(bytes)
        case .udp(let fd):
            let sent = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, 0) }
            guard sent == bytes.count else { throw Failure(description: "send: \(String(cString: strerror(errno)))") }
        }
    }

    /// The next message from the server; throws on timeout.
    public func receive() throws -> SIPMessage {
        switch transport {
        case .udp(let fd):
            var buffer = [UInt8](repeating: 0, count: 65536)
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { throw Failure(description: "no SIP answer (\(String(cString: strerror(errno))))") }
            return try SIPMessageParser.parse(datagram: Array(buffer.prefix(count)))
        case .tcp(let socket):
            while true {
                if let length = try SIPMessageParser.frameLength(buffered[...]) {
                    let message = try SIPMessageParser.parse(frame: buffered[..<length])
                    buffered.removeFirst(length)
                    return message
                }
                let chunk = try socket.read()
                guard !chunk.isEmpty else { throw Failure(description: "the server closed the connection") }
                buffered += chunk
            }
        }
    }

    /// Whether the server closed a TCP connection (reads end).
    public func isClosedByServer() -> Bool {
        if case .tcp(let socket) = transport { return socket.isClosedByPeer() }
        return false
    }

    /// A request with the usual headers; `extra` are added as given.
    public func makeRequest(
        _ method: String, uri: String, to: String, from: String? = nil, extra: [(String, String)] = []
    ) -> SIPMessage {
        cseq += 1
        var message = SIPMessage(startLine: .request(method: method, uri: uri))
        message.add(
            "Via",
            "SIP/2.0/\(transportName) 127.0.0.1:\(localPort);branch=z9hG4bK\(UInt64.random(in: 1...UInt64.max));rport")
        message.add("Max-Forwards", "70")
        message.add("From", "<\(from ?? to)>;tag=\(tag)")
        message.add("To", "<\(to)>")
        message.add("Call-ID", callID)
        message.add("CSeq", "\(cseq) \(method)")
        for (name, value) in extra { message.add(name, value) }
        return message
    }

    /// Sends a request and returns the final response.
    public func send(_ message: SIPMessage) throws -> SIPMessage {
        try sendRaw(SIPMessageWriter.encode(message))
        while true {
            let response = try receive()
            if let status = response.status, status >= 200 { return response }
        }
    }

    /// REGISTER for `aor`, answering one challenge with `password` when asked (the digest
    /// username is the URI's user part); returns the challenge and the final response.
    @discardableResult
    public func register(
        aor: String, username: String? = nil, password: String, contacts: [String], expires: Int? = nil,
        algorithm: DigestAlgorithm = .md5, extra: [(String, String)] = []
    ) throws -> (challenge: SIPMessage?, response: SIPMessage) {
        var headers = extra
        for contact in contacts { headers.append(("Contact", contact)) }
        if let expires { headers.append(("Expires", "\(expires)")) }
        let uri = "sip:" + (aor.split(separator: "@").last.map(String.init) ?? "127.0.0.1")
        let first = try send(makeRequest("REGISTER", uri: uri, to: aor, extra: headers))
        guard first.status == 401 else { return (nil, first) }
        let user = username ?? String(aor.dropFirst(4).split(separator: "@").first ?? "")
        let authorization = try Self.authorize(
            challenge: first, method: "REGISTER", uri: uri, username: user, password: password, algorithm: algorithm)
        let second = try send(
            makeRequest("REGISTER", uri: uri, to: aor, extra: headers + [("Authorization", authorization)]))
        return (first, second)
    }

    /// The Authorization value answering the challenge for `algorithm` in `challenge`.
    public static func authorize(
        challenge: SIPMessage, method: String, uri: String, username: String, password: String,
        algorithm: DigestAlgorithm, nc: String = "00000001", cnonce: String = "0a4f113b"
    ) throws -> String {
        guard
            let header = challenge.all("WWW-Authenticate").compactMap({ DigestHeader($0) })
                .first(where: { ($0["algorithm"] ?? "MD5").uppercased() == algorithm.rawValue }),
            let realm = header["realm"], let nonce = header["nonce"]
        else {
            throw Failure(description: "no \(algorithm.rawValue) challenge in \(challenge.all("WWW-Authenticate"))")
        }
        let ha1 = Digest.ha1(username: username, realm: realm, password: password, algorithm: algorithm)
        let response = Digest.expectedResponse(
            ha1: ha1, method: method, uri: uri, nonce: nonce, nc: nc, cnonce: cnonce, qop: "auth", algorithm: algorithm)
        return
            "Digest username=\"\(username)\", realm=\"\(realm)\", nonce=\"\(nonce)\", uri=\"\(uri)\", response=\"\(response)\", algorithm=\(algorithm.rawValue), qop=auth, nc=\(nc), cnonce=\"\(cnonce)\""
    }
}
