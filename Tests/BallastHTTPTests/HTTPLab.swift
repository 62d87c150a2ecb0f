import BallastConfig
import BallastCore
import BallastNode
import BallastTestSupport
import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL

/// A node in this process with one HTTP relay `web` in front of real HTTP servers on 127.0.0.1,
/// configured from YAML as a user would write it.
final class HTTPLab: Sendable {
    let node: Node
    let backends: [TestHTTPBackend]
    let port: Int
    let group: MultiThreadedEventLoopGroup
    let directory: URL
    let certificates: TestCertificates

    /// `relay` holds extra YAML lines of the relay (indented by 4), `tlsBackends` puts TLS on the
    /// servers, `files` are written to the lab's folder (where relative paths start) first;
    /// `engine` is written as the relay's `engine` key.
    init(
        engine: String = "ballast", backends names: [String] = ["a", "b", "c"], protocol: String = "http",
        relay: String = "",
        tlsBackends: Bool = false, files: [String: String] = [:]
    ) async throws {
        directory = try BallastProcess.makeDirectory()
        for (name, text) in files {
            try text.write(toFile: directory.appendingPathComponent(name).path, atomically: true, encoding: .utf8)
        }
        certificates = try TestCertificates(names: ["localhost", "one.test"])
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let serverContext = tlsBackends ? try certificates.serverContext() : nil
        var backends: [TestHTTPBackend] = []
        for name in names {
            backends.append(try await TestHTTPBackend.start(name: name, tls: serverContext, group: group))
        }
        let certificateFile = directory.appendingPathComponent("server.pem").path
        let keyFile = directory.appendingPathComponent("server.key").path
        try certificates.certificatePEM.write(toFile: certificateFile, atomically: true, encoding: .utf8)
        try certificates.keyPEM.write(toFile: keyFile, atomically: true, encoding: .utf8)
        _ = try certificates.writeCA(in: directory)
        port = Ports.free()
        let servers = zip(names, backends).map { "      - {name: \($0), address: 127.0.0.1, port: \($1.port)}" }
        let yaml = """
            pools:
              web:
                servers:
            \(servers.joined(separator: "\n"))
            relays:
              web:
                listen: 127.0.0.1:\(port)
                protocol: \(`protocol`)
                pool: web
                engine: \(engine)
            \(relay)
            """
        let path = directory.appendingPathComponent("ballast.yaml").path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        let topology = try ConfigLoader.load(path: path)
        var logger = Logger(label: "http-lab")
        logger.logLevel = .critical
        node = try Node(topology: topology, group: group, logger: logger, relayThreads: 1)
        self.backends = backends
        self.group = group
        try await node.start()
    }

    var url: String { "http://127.0.0.1:\(port)" }
    var caFile: String { directory.appendingPathComponent("ca.pem").path }

    func backend(_ name: String) -> TestHTTPBackend { backends.first { $0.name == name }! }

    /// Runs curl with `arguments`; fails the test on a timeout.
    func curl(_ arguments: [String], timeout: Duration = .seconds(60)) throws -> BallastProcess.Output {
        try BallastProcess.run(
            executable: URL(fileURLWithPath: "/usr/bin/curl"), ["-sS", "--max-time", "50"] + arguments,
            timeout: timeout)
    }

    func shutdown() async {
        await node.shutdown(grace: .milliseconds(100))
        for backend in backends { await backend.stop() }
        try? await group.shutdownGracefully()
        try? FileManager.default.removeItem(at: directory)
    }
}

/// This process's resident memory in KiB: the relay and the servers of a lab both live in it.
func residentKiB() -> Int {
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
    return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
}

extension HTTPLab: TestResource {
    func tearDown() async { await shutdown() }
}
