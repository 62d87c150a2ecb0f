public import BallastCodecs
public import BallastCore
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// One DNS query over UDP (from a fresh socket, so a fresh source port) or TCP, parsed: for tests
/// that ask hundreds of questions, where starting dig for each would take minutes.
public enum DNSQuery {
    /// Asks `name` `type` of the server on 127.0.0.1:`port`.
    public static func ask(
        port: Int, _ name: String, type: UInt16, tcp: Bool = false, edns: Bool = true
    ) throws -> DNSMessage {
        var query = DNSMessage(id: UInt16.random(in: 0...UInt16.max))
        query.questions = [DNSQuestion(name: DomainName(name)!, type: type)]
        if edns { query.edns = EDNS(udpPayloadSize: 1232) }
        let bytes = DNSMessageWriter.serialize(query)
        if tcp {
            let socket = try TestSocket(port: port, timeout: .seconds(3))
            try socket.send([UInt8(bytes.count >> 8), UInt8(bytes.count & 0xFF)] + bytes)
            var received: [UInt8] = []
            while received.count < 2 || received.count < 2 + (Int(received[0]) << 8 | Int(received[1])) {
                let chunk = try socket.read()
                guard !chunk.isEmpty else { throw TestSocket.Failure(description: "the server closed the connection") }
                received += chunk
            }
            return try DNSMessageParser.parse(Array(received[2..<(2 + (Int(received[0]) << 8 | Int(received[1])))]))
        }
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        var timeout = timeval(tv_sec: 3, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard TestSocket.withAddress("127.0.0.1", port: port, { connect(fd, $0, $1) }) == 0 else {
            throw TestSocket.Failure(description: "connect: \(String(cString: strerror(errno)))")
        }
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        var buffer = [UInt8](repeating: 0, count: 65536)
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { throw TestSocket.Failure(description: "no answer over UDP") }
        return try DNSMessageParser.parse(Array(buffer.prefix(count)))
    }
}
