import BallastCore
import BallastTLS
import BallastTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The side that speaks TLS to servers (re-encryption), against a real server (openssl
/// s_server): verification against the CA and the name, and one kept session per server.
@Suite struct TLSClientContextTests {
    /// openssl s_server answering `GET /` with its status page, on a free port.
    final class OpenSSLServer {
        let port = Ports.free()
        let process: PeerProcess

        init(files: TLSServerContextTests.Files, extra: [String] = []) throws {
            process = try PeerProcess(
                "/usr/bin/openssl",
                [
                    "s_server", "-accept", "127.0.0.1:\(port)", "-cert", files.path("server.pem"), "-key",
                    files.path("server.key"),
                    "-www", "-quiet",
                ] + extra)
        }

        /// Whether it listens within 10 s.
        func ready() async -> Bool {
            let port = self.port
            return await eventually(timeout: .seconds(10)) { Self.connect(port: port).map { Glibc.close($0) } != nil }
        }

        /// A blocking socket connected to `port`, reads timing out after 5 s; nil when refused.
        static func connect(port: Int) -> Int32? {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard connected == 0 else {
                Glibc.close(fd)
                return nil
            }
            var wait = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size))
            return fd
        }

        deinit { process.stop() }
    }

    /// One GET over a new connection; the status line, or the failure, and whether it resumed.
    static func get(
        port: Int, context: TLSClientContext, slot: TLSSessionSlot
    ) throws -> (answer: String, resumed: Bool) {
        let fd = try #require(OpenSSLServer.connect(port: port))
        defer { Glibc.close(fd) }
        let tls = try #require(TLSConnection(connecting: fd, context: context, name: "127.0.0.1", slot: slot))
        let request = Array("GET / HTTP/1.0\r\n\r\n".utf8)
        let sent = request.withUnsafeBytes { tls.write($0.baseAddress, $0.count, nil, 0) }
        guard sent == request.count else { return ("failed: \(tls.failure)", tls.resumed) }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16384)
        for _ in 0..<100 {
            let count = buffer.withUnsafeMutableBytes { tls.read($0.baseAddress!, count: $0.count) }
            guard count > 0 else { break }
            received += buffer[0..<count]
        }
        let text = String(decoding: received, as: UTF8.self)
        return (text.components(separatedBy: "\r\n").first ?? "", tls.resumed)
    }

    @Test func aVerifiedServerIsResumedFromTheKeptSession() async throws {
        let files = try TLSServerContextTests.Files([
            "server": try TestCertificates(names: ["backend.test"], loopbackSAN: false)
        ])
        defer { try? FileManager.default.removeItem(at: files.directory) }
        let server = try OpenSSLServer(files: files)
        try #require(await server.ready())
        let context = try TLSClientContext(
            HTTPSettings.ServerTLS(verify: true, caFile: files.path("server-ca.pem"), serverName: "backend.test"))
        let slot = TLSSessionSlot()
        let first = try Self.get(port: server.port, context: context, slot: slot)
        #expect(first.answer == "HTTP/1.0 200 ok" && !first.resumed, "\(first)")
        #expect(slot.isFilled)
        let second = try Self.get(port: server.port, context: context, slot: slot)
        #expect(second.answer == "HTTP/1.0 200 ok" && second.resumed, "\(second)")
    }

    @Test func aWrongNameOrAnUntrustedChainIsRefused() async throws {
        let files = try TLSServerContextTests.Files([
            "server": try TestCertificates(names: ["backend.test"], loopbackSAN: false),
            "stranger": try TestCertificates(),
        ])
        defer { try? FileManager.default.removeItem(at: files.directory) }
        let server = try OpenSSLServer(files: files)
        try #require(await server.ready())
        let wrongName = try TLSClientContext(
            HTTPSettings.ServerTLS(verify: true, caFile: files.path("server-ca.pem"), serverName: "other.test"))
        let named = try Self.get(port: server.port, context: wrongName, slot: TLSSessionSlot())
        #expect(
            named.answer.contains("certificate verify failed") && named.answer.lowercased().contains("hostname"),
            "\(named)")
        let untrusted = try TLSClientContext(
            HTTPSettings.ServerTLS(verify: true, caFile: files.path("stranger-ca.pem"), serverName: "backend.test"))
        let chain = try Self.get(port: server.port, context: untrusted, slot: TLSSessionSlot())
        #expect(chain.answer.contains("certificate verify failed"), "\(chain)")
        // Without verification the same server is spoken to.
        let trusting = try TLSClientContext(HTTPSettings.ServerTLS(verify: false))
        #expect(try Self.get(port: server.port, context: trusting, slot: TLSSessionSlot()).answer == "HTTP/1.0 200 ok")
        #expect(throws: TLSError.self) {
            try TLSClientContext(HTTPSettings.ServerTLS(verify: true, caFile: files.path("absent.pem")))
        }
    }
}
