import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// What the kernel says about a running process: its resident memory, its descriptors and the
/// state of its TCP sockets. The adversarial tests read it before and after an attack.
public struct ProcessProbe: Sendable {
    /// The process.
    public let pid: Int32

    public init(pid: Int32) { self.pid = pid }

    /// Resident memory in KiB (VmRSS), nil when the process is gone.
    public var residentKiB: Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        }
        return nil
    }

    /// Open descriptors.
    public var openDescriptors: Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd"))?.count ?? 0
    }

    /// The inodes of the sockets the process holds.
    public var socketInodes: Set<String> {
        let folder = "/proc/\(pid)/fd"
        var inodes: Set<String> = []
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] {
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(folder)/\(entry)"),
                target.hasPrefix("socket:[")
            else { continue }
            inodes.insert(String(target.dropFirst(8).dropLast()))
        }
        return inodes
    }

    /// TCP states by the kernel's number (`08` is CLOSE-WAIT, `01` ESTABLISHED) of the process's sockets.
    public var tcpStates: [String: Int] {
        let mine = socketInodes
        var states: [String: Int] = [:]
        for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { continue }
            for line in text.split(separator: "\n").dropFirst() {
                let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                guard fields.count > 9, mine.contains(String(fields[9])) else { continue }
                states[String(fields[3]), default: 0] += 1
            }
        }
        return states
    }

    /// The process's TCP connections accepted on `port`: the client's port and the kernel's state number.
    public func connections(onPort port: Int) -> [(clientPort: Int, state: String)] {
        let mine = socketInodes
        var out: [(Int, String)] = []
        for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { continue }
            for line in text.split(separator: "\n").dropFirst() {
                let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                guard fields.count > 9, mine.contains(String(fields[9])),
                    let local = fields[1].split(separator: ":").last.flatMap({ Int($0, radix: 16) }), local == port,
                    let remote = fields[2].split(separator: ":").last.flatMap({ Int($0, radix: 16) }), remote != 0
                else { continue }
                out.append((remote, String(fields[3])))
            }
        }
        return out
    }

    /// Sockets the peer has closed and the process has not: each one a leak.
    public var closeWaitSockets: Int { tcpStates["08"] ?? 0 }

    /// Sockets still in CLOSE-WAIT after `grace`: a client that has just closed leaves one for
    /// the moment the process takes to read its end; a leak stays.
    public func lingeringCloseWaitSockets(grace: Duration = .seconds(2)) -> Int {
        let deadline = ContinuousClock.now + grace
        while closeWaitSockets > 0 && ContinuousClock.now < deadline { usleep(20_000) }
        return closeWaitSockets
    }

    /// Established TCP connections.
    public var establishedSockets: Int { tcpStates["01"] ?? 0 }
}
