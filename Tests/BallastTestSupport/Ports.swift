import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Free TCP ports on 127.0.0.1 for listeners a test configures by number.
public enum Ports {
    /// Ports handed out already in this test process: the kernel may hand the same one out
    /// twice in a row once the probing socket is closed, and two listeners of one config on one
    /// port fail its check (this failed a clean-clone run).
    private static let handedOut = Mutex<Set<Int>>([])

    /// A port the kernel just handed out, that nothing listens on now and that no earlier call
    /// in this process returned.
    public static func free() -> Int {
        for _ in 0..<100 {
            let port = probe()
            if handedOut.withLock({ $0.insert(port).inserted }) { return port }
        }
        return probe()
    }

    private static func probe() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        _ = TestSocket.withAddress("127.0.0.1", port: 0) { bind(fd, $0, $1) }
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// A port free for both TCP and UDP on 127.0.0.1 (SIP and DNS listen on both).
    public static func freeForTCPAndUDP() -> Int {
        for _ in 0..<50 {
            let port = free()
            let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
            defer { close(fd) }
            if TestSocket.withAddress("127.0.0.1", port: port, { bind(fd, $0, $1) }) == 0 { return port }
        }
        return free()
    }

    /// A port free for TCP and UDP whose next port is too, both reserved in this process: for a
    /// peer that also listens on the port after the one it is given (baresip's TLS).
    public static func freePairForTCPAndUDP() -> Int {
        for _ in 0..<50 {
            let port = freeForTCPAndUDP()
            guard port < 65535, isBindable(port + 1, Int32(SOCK_STREAM.rawValue)),
                isBindable(port + 1, Int32(SOCK_DGRAM.rawValue)),
                handedOut.withLock({ $0.insert(port + 1).inserted })
            else { continue }
            return port
        }
        return freeForTCPAndUDP()
    }

    private static func isBindable(_ port: Int, _ type: Int32) -> Bool {
        let fd = socket(AF_INET, type, 0)
        defer { close(fd) }
        return TestSocket.withAddress("127.0.0.1", port: port, { bind(fd, $0, $1) }) == 0
    }

    /// The inode of the socket listening on 127.0.0.1:`port`, from /proc/net/tcp: the same
    /// inode before and after a reload means the same listening socket. The kernel writes
    /// that file in pieces while sockets come and go, so a read can miss a line; a few
    /// reads settle it.
    public static func listeningSocketInode(port: Int) -> String? {
        for _ in 0..<5 {
            if let inode = readListeningSocketInode(port: port) { return inode }
            usleep(10_000)
        }
        return nil
    }

    private static func readListeningSocketInode(port: Int) -> String? {
        guard let table = readWholeFile("/proc/net/tcp") else { return nil }
        let local = String(format: "0100007F:%04X 00000000:0000 0A", port)
        // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
        guard let match = table.range(of: local) else { return nil }
        let line = table[match.lowerBound...].prefix { $0 != "\n" }
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        return fields.count > 8 ? String(fields[8]) : nil
    }
}

/// Reads a file to its end with read(2): procfs files report size 0, so readers that trust
/// the size stop short.
func readWholeFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, 65536) }
        if count <= 0 { break }
        bytes += chunk.prefix(count)
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// Waits, polling, until `condition` holds or `timeout` passes; returns whether it held.
public func eventually(
    timeout: Duration = .seconds(5), every interval: Duration = .milliseconds(20), _ condition: () async throws -> Bool
) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: interval)
    }
    return try await condition()
}
