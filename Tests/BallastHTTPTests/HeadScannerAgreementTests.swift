import BallastCodecs
import BallastTestSupport
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

/// The engine's head scanner against SwiftNIO's HTTP/1 decoder (llhttp) on typical and damaged
/// request heads: whatever the scanner accepts, NIO reads the same method, target, version and
/// fields from. The scanner may refuse more (it is the stricter of the two), never less, with
/// two known differences: llhttp refuses methods it does not know, which Ballast forwards as
/// HAProxy does (any token), and keeps a value's trailing whitespace, which RFC 9110 section 5.5
/// says is not part of it.
@Suite struct HeadScannerAgreementTests {
    static let seeds = [
        "GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/7.88\r\nAccept: */*\r\n\r\n",
        "POST /submit HTTP/1.1\r\nHost: a.example\r\nContent-Length: 11\r\nContent-Type: text/plain\r\n\r\n",
        "PUT /up HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\nExpect: 100-continue\r\n\r\n",
        "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nCookie: a=1; SRV=abc; b=2\r\n\r\n",
        "GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: k\r\n\r\n",
        "OPTIONS * HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.0.0.1, 10.0.0.2\r\nX-Empty:\r\n\r\n",
        "DELETE /a%20b HTTP/1.1\r\nHost: [::1]:8080\r\nAuthorization: Basic YWxpY2U6cHc=\r\nX-Tab:\ta\tb\t\r\n\r\n",
    ]

    @Test(arguments: [11, 12])
    func whatTheScannerAcceptsNIOReadsTheSameWay(seed: UInt64) throws {
        var mutator = Mutator(seed: seed)
        var inputs = Self.seeds.map { Array($0.utf8) }
        for seed in Self.seeds.map({ Array($0.utf8) }) {
            for _ in 0..<1250 { inputs.append(mutator.damaged(seed)) }
        }
        var accepted = 0
        for input in inputs {
            var head = HTTP1Head()
            let result = input.withUnsafeBytes { HTTP1HeadScanner.scanRequest($0, into: &head) }
            guard result == .complete, head.method != .other else { continue }
            accepted += 1
            let theirs = try nioHead(Array(input[..<head.length]))
            guard let theirs else {
                Issue.record(
                    "the scanner accepted what NIO refuses: \(String(decoding: input, as: UTF8.self).debugDescription)")
                continue
            }
            let text = { (range: Range<Int>) in String(decoding: input[range], as: UTF8.self) }
            #expect(theirs.method.rawValue == text(head.methodBytes))
            #expect(theirs.uri == text(head.target))
            #expect(theirs.version.minor == head.minorVersion)
            let fields = head.fields.map { (text($0.name), text($0.value)) }
            let nio = theirs.headers.map { field in
                (field.name, String(field.value.reversed().drop { $0 == " " || $0 == "\t" }.reversed()))
            }
            #expect(fields.count == nio.count, "\(String(decoding: input, as: UTF8.self).debugDescription)")
            for (ours, its) in zip(fields, nio) {
                #expect(ours.0 == its.0 && ours.1 == its.1, "\(ours) against \(its)")
            }
        }
        // Enough accepted heads that the comparison means something.
        #expect(accepted > 1000, "only \(accepted) of \(inputs.count) heads accepted")
    }

    /// The head NIO's decoder reads from `bytes`, or nil when it refuses them or wants more.
    private func nioHead(_ bytes: [UInt8]) throws -> HTTPRequestHead? {
        let channel = EmbeddedChannel(
            handler: ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .forwardBytes)))
        defer { _ = try? channel.finish() }
        var buffer = channel.allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        do {
            try channel.writeInbound(buffer)
        } catch {
            return nil
        }
        while let part = try channel.readInbound(as: HTTPServerRequestPart.self) {
            if case .head(let head) = part { return head }
        }
        return nil
    }
}
