import Foundation
import Synchronization

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
        try self.init(maxConnections: 50)
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

    private init(create: (String, String, String?) throws -> Int32, maxConnections: Int = 50) throws {
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
        try start(maxConnections: maxConnections)
    }

    /// Starts the server (again, after `stop()`), on the same port and data.
    public func start() throws {
        try start(maxConnections: 50)
    }

    private func start(maxConnections: Int) throws {
        let user = getuid() == 0 ? "postgres" : nil
        // SIGINT is PostgreSQL's fast shutdown: it does not wait for clients to leave.
        server = try PeerProcess(
            "\(binaries)/postgres",
            [
                "-D", "\(folder)/data", "-p", "\(port)", "-k", folder, "-c", "listen_addresses=127.0.0.1",
                "-c", "fsync=off", "-c", "max_connections=\(maxConnections)",
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

extension TestPostgres {
    /// The test process's one cluster, started on first use and removed when the process exits:
    /// tests that only read and write take a database of their own on it (`database()`) instead of
    /// a cluster each, which would cost an initdb and a server apiece, many at once in a parallel run.
    private static let shared = Mutex<Result<SharedCluster, PeerStartError>?>(nil)
    /// The shared cluster's server, to remove it at exit. Safe though unchecked: it is written once,
    /// under `shared`'s lock, before any `TestDatabase` exists, and read only by the exit handler.
    nonisolated(unsafe) private static var sharedServer: TestPostgres?

    /// Where the shared cluster listens.
    private struct SharedCluster: Sendable {
        let port: Int
        let binaries: String
    }

    /// A fresh, empty database on the process's shared cluster, for a test that never stops the
    /// server (one that does takes a `TestPostgres()` of its own).
    public static func database() throws -> TestDatabase {
        let cluster = try shared.withLock { cluster -> SharedCluster in
            if cluster == nil {
                do {
                    let server = try TestPostgres(maxConnections: 300)
                    sharedServer = server
                    atexit { TestPostgres.sharedServer?.remove() }
                    cluster = .success(SharedCluster(port: server.port, binaries: server.binaries))
                } catch {
                    cluster = .failure(PeerStartError("the shared PostgreSQL cluster did not start: \(error)"))
                }
            }
            return try cluster!.get()
        }
        let name = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
        let status = try PeerProcess.run(
            "\(cluster.binaries)/createdb", ["-h", "127.0.0.1", "-p", "\(cluster.port)", "-U", "postgres", name])
        guard status == 0 else {
            throw PeerStartError("creating database \(name) on the shared cluster failed with status \(status)")
        }
        return TestDatabase(port: cluster.port, binaries: cluster.binaries, name: name)
    }

    private convenience init(maxConnections: Int) throws {
        try self.init(
            create: { binaries, folder, user in
                let template = try Self.template(binaries: binaries, user: user)
                return try PeerProcess.run("/bin/cp", ["-a", template, "\(folder)/data"], user: user)
            }, maxConnections: maxConnections)
    }

    /// A cluster's data folder made by initdb once per test process, copied for each new cluster
    /// (a copy costs far less than an initdb, which matters when many tests start one at once).
    private static let templateData = Mutex<Result<String, PeerStartError>?>(nil)

    private static func template(binaries: String, user: String?) throws -> String {
        try templateData.withLock { template in
            if template == nil {
                let folder = NSTemporaryDirectory() + "ballast-pg-template-\(UUID().uuidString.prefix(8))"
                do {
                    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                    if user != nil { chown(folder, postgresUID(), postgresGID()) }
                    atexit { TestPostgres.removeTemplate() }
                    let status = try PeerProcess.run(
                        "\(binaries)/initdb",
                        ["-D", "\(folder)/data", "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"],
                        user: user)
                    template =
                        status == 0
                        ? .success("\(folder)/data")
                        : .failure(PeerStartError("initdb failed with status \(status) in \(folder)"))
                } catch {
                    template = .failure(PeerStartError("initdb could not run: \(error)"))
                }
            }
            return try template!.get()
        }
    }

    private static func removeTemplate() {
        guard case .success(let data) = templateData.withLock({ $0 }) else { return }
        try? FileManager.default.removeItem(atPath: (data as NSString).deletingLastPathComponent)
    }
}

/// A database of its own for one test, on the process's shared PostgreSQL cluster.
public struct TestDatabase: Sendable {
    private let port: Int
    private let binaries: String
    /// Its name on the cluster.
    public let name: String

    fileprivate init(port: Int, binaries: String, name: String) {
        self.port = port
        self.binaries = binaries
        self.name = name
    }

    /// The address Ballast's store takes.
    public var url: String { "postgres://postgres@127.0.0.1:\(port)/\(name)" }

    /// Drops the database, closing what is still connected to it (the cluster stays for other tests).
    public func drop() {
        _ = try? PeerProcess.run(
            "\(binaries)/dropdb", ["-h", "127.0.0.1", "-p", "\(port)", "-U", "postgres", "--force", name])
    }
}

/// Why a peer server (PostgreSQL, Dovecot) could not start for a test.
public struct PeerStartError: Error, CustomStringConvertible {
    public let description: String
    /// An error saying what failed.
    public init(_ description: String) { self.description = description }
}
