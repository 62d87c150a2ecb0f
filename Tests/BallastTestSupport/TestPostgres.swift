import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A throwaway PostgreSQL server from Debian's postgresql package: its own cluster in a temporary
/// folder, on a free loopback port, trusted local logins; stopped by its PID.
public final class TestPostgres {
    /// Its port on 127.0.0.1.
    public let port: Int
    /// The cluster's folder.
    public let folder: String
    private var server: PeerProcess?
    private let binaries: String

    /// The address Ballast's store takes.
    public var url: String { "postgres://postgres@127.0.0.1:\(port)/postgres" }

    /// Creates a cluster and starts it; waits until it takes logins.
    public convenience init() throws {
        try self.init { binaries, folder, user in
            try PeerProcess.run(
                "\(binaries)/initdb",
                ["-D", "\(folder)/data", "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"],
                user: user)
        }
    }

    /// A hot standby of `primary`: its data copied by pg_basebackup, then streaming from it.
    public convenience init(standbyOf primary: TestPostgres) throws {
        try self.init { binaries, folder, user in
            try PeerProcess.run(
                "\(binaries)/pg_basebackup",
                [
                    "-h", "127.0.0.1", "-p", "\(primary.port)", "-U", "postgres", "-D", "\(folder)/data", "-R", "-X",
                    "stream", "--no-sync",
                ],
                user: user)
        }
    }

    private init(create: (String, String, String?) throws -> Int32) throws {
        guard let binaries = Self.binaries() else {
            throw PeerStartError("PostgreSQL is not installed: apt-get install postgresql (scripts/test.sh does)")
        }
        self.binaries = binaries
        self.port = Ports.free()
        self.folder = NSTemporaryDirectory() + "ballast-pg-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let user = getuid() == 0 ? "postgres" : nil
        if user != nil { chown(folder, Self.postgresUID(), Self.postgresGID()) }
        let status = try create(binaries, folder, user)
        guard status == 0 else {
            throw PeerStartError("creating the cluster failed with status \(status) in \(folder)")
        }
        try start()
    }

    /// Starts the server (again, after `stop()`), on the same port and data.
    public func start() throws {
        let user = getuid() == 0 ? "postgres" : nil
        // SIGINT is PostgreSQL's fast shutdown: it does not wait for clients to leave.
        server = try PeerProcess(
            "\(binaries)/postgres",
            [
                "-D", "\(folder)/data", "-p", "\(port)", "-k", folder, "-c", "listen_addresses=127.0.0.1",
                "-c", "fsync=off", "-c", "max_connections=50",
            ], user: user, stopSignal: SIGINT)
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if try PeerProcess.run("\(binaries)/pg_isready", ["-h", "127.0.0.1", "-p", "\(port)", "-t", "1"]) == 0 {
                return
            }
            usleep(100_000)
        }
        throw PeerStartError("PostgreSQL in \(folder) did not take logins on port \(port) within 20 s")
    }

    /// Stops the server by its PID (fast shutdown); the data stays for `start()`.
    public func stop() {
        server?.stop()
        server = nil
    }

    /// Stops the server and removes its folder.
    public func remove() {
        stop()
        try? FileManager.default.removeItem(atPath: folder)
    }

    deinit { remove() }

    private static func binaries() -> String? {
        let root = "/usr/lib/postgresql"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return versions.compactMap(Int.init).sorted().last.map { "\(root)/\($0)/bin" }
    }

    private static func postgresUID() -> uid_t { getpwnam("postgres")?.pointee.pw_uid ?? 0 }
    private static func postgresGID() -> gid_t { getpwnam("postgres")?.pointee.pw_gid ?? 0 }
}

/// Why a peer server (PostgreSQL, Dovecot) could not start for a test.
public struct PeerStartError: Error, CustomStringConvertible {
    public let description: String
    /// An error saying what failed.
    public init(_ description: String) { self.description = description }
}
