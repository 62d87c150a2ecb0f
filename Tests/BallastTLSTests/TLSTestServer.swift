import BallastTLS
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Serves TLS connections one after another on a blocking 127.0.0.1 socket through
/// `TLSConnection`: reads one line from each client, answers with what the connection
/// negotiated, then closes it. The thread ends after `count` connections or 10 s without one.
final class TLSTestServer: @unchecked Sendable {
    // @unchecked: `listener` is set in init and closed once in stop(); the thread only reads it.
    let port: Int
    private let listener: Int32
    private let done = DispatchSemaphore(value: 0)

    init(context: TLSServerContext, count: Int) throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.listener = listener
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) }
        }
        guard bound == 0, listen(listener, 16) == 0 else { throw POSIXError(.EADDRINUSE) }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        port = Int(UInt16(bigEndian: address.sin_port))
        let done = self.done
        Thread.detachNewThread {
            for _ in 0..<count {
                var ready = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
                guard poll(&ready, 1, 10_000) == 1 else { break }
                let client = accept(listener, nil, nil)
                guard client >= 0 else { break }
                var wait = timeval(tv_sec: 5, tv_usec: 0)
                setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size))
                Self.serve(client, context: context)
                Glibc.close(client)
            }
            done.signal()
        }
    }

    private static func serve(_ fd: Int32, context: TLSServerContext) {
        guard let tls = TLSConnection(accepting: fd, context: context) else { return }
        var buffer = [UInt8](repeating: 0, count: 4096)
        var line: [UInt8] = []
        for _ in 0..<20 where !line.contains(0x0A) {
            let count = buffer.withUnsafeMutableBytes { tls.read($0.baseAddress!, count: $0.count) }
            if count > 0 { line += buffer[0..<count] } else if count != -Int(EAGAIN) { return }
        }
        let answer = Array(
            "resumed=\(tls.resumed) name=\(tls.requestedName ?? "-") alpn=\(tls.negotiatedProtocol ?? "-")\n".utf8)
        _ = answer.withUnsafeBytes { tls.write($0.baseAddress, $0.count, nil, 0) }
        tls.shutdown()
    }

    /// Waits for the serving thread to end (at most 15 s) and closes the socket.
    func stop() {
        _ = done.wait(timeout: .now() + 15)
        Glibc.close(listener)
    }
}
