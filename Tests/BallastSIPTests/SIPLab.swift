import BallastCodecs
import BallastConfig
import BallastCore
import BallastLab
import BallastNode
import BallastSIP
import BallastSIPRegistrar
import BallastTestSupport
import Foundation
import Logging
import NIOCore
import NIOPosix

/// Two sites in this process: pool-hq and pool-dr, each other's backup, each with a
/// stand-in front end probed by SIP OPTIONS and a Ballast registrar listening on UDP, TCP
/// and (hq) TLS; a director listener; users alice (home hq) and bob (home dr).
final class SIPLab: @unchecked Sendable {
    // @unchecked: `frontEnds` changes only from the one test that owns the lab, between awaits.
    let group: MultiThreadedEventLoopGroup
    /// Moves the node's clock forward, to reach an expiry without waiting for it.
    let time = TimeShift()
    let directory: URL
    let configPath: String
    let hqPort: Int
    let hqTLSPort: Int
    let drPort: Int
    let directorPort: Int
    var frontEnds: [String: StandInFrontEnd]
    let frontEndPorts: [String: Int]
    var node: Node
    let logger: Logger

    static let realm = "lab.example"
    static let passwords = ["alice": "secret-alice", "bob": "secret-bob", "carol": "secret-carol"]

    /// `namedContacts`: the registrars name their redirect URIs (with TLS); else redirects name their listeners.
    /// `hqUDPHost`: the address hq's UDP listener binds (0.0.0.0 to answer on every address).
    /// `maxConnections`: `sip.max-connections`, when set.
    init(
        nonceLifetime: String = "5s", extraSIP: String = "", namedContacts: Bool = true,
        hqUDPHost: String = "127.0.0.1",
        maxConnections: Int? = nil
    )
        async throws
    {
        directory = try BallastProcess.makeDirectory()
        group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let hq = try await TestSIPServer.start(group: group)
        let dr = try await TestSIPServer.start(group: group)
        frontEnds = ["hq": hq, "dr": dr]
        frontEndPorts = ["hq": hq.port, "dr": dr.port]
        hqPort = Ports.freeForTCPAndUDP()
        hqTLSPort = Ports.free()
        drPort = Ports.freeForTCPAndUDP()
        directorPort = Ports.freeForTCPAndUDP()
        let certificates = try TestCertificates(names: ["sip.lab.example"])
        try certificates.certificatePEM.write(
            to: directory.appendingPathComponent("sip.pem"), atomically: true, encoding: .utf8)
        try certificates.keyPEM.write(
            to: directory.appendingPathComponent("sip.key"), atomically: true, encoding: .utf8)
        try Self.usersFile(homes: ["alice": "pool-hq", "bob": "pool-dr", "carol": "pool-hq"]).write(
            to: directory.appendingPathComponent("users.yaml"), atomically: true, encoding: .utf8)
        let yaml = """
            sites: {hq: {}, dr: {}}
            checks:
              sip: {type: sip-options, interval: 100ms, timeout: 90ms, rise: 2, fall: 2}
            pools:
              pool-hq:
                site: hq
                backup-pool: pool-dr
                check: sip
                servers: [{name: fe1, address: 127.0.0.1:\(hq.port)}]
              pool-dr:
                site: dr
                backup-pool: pool-hq
                check: sip
                servers: [{name: fe1, address: 127.0.0.1:\(dr.port)}]
            sip:
              realm: \(Self.realm)
              users-file: users.yaml
              registrations-file: state/registrations.jsonl
              failure-detection: 300ms
              fallback: 1500ms
              nonce-lifetime: \(nonceLifetime)
              expires: {min: 2, max: 3600, default: 600}
              max-contacts: 3
            \(maxConnections.map { "  max-connections: \($0)" } ?? "")
              algorithms: [MD5, SHA-256]
              certificates: [{certificate: sip.pem, key: sip.key}]
              registrars:
                pool-hq:
                  listen: [udp://\(hqUDPHost):\(hqPort), tcp://127.0.0.1:\(hqPort), tls://127.0.0.1:\(hqTLSPort)]
            \(namedContacts ? "      contact: sip:hq.lab.example:5061;transport=tls" : "")
                pool-dr:
                  listen: [udp://127.0.0.1:\(drPort), tcp://127.0.0.1:\(drPort)]
            \(namedContacts ? "      contact: sip:dr.lab.example:5061;transport=tls" : "")
              director:
                listen: [udp://127.0.0.1:\(directorPort)]
            \(extraSIP)
            """
        configPath = directory.appendingPathComponent("ballast.yaml").path
        try yaml.write(toFile: configPath, atomically: true, encoding: .utf8)
        var logger = Logger(label: "sip-lab")
        logger.logLevel = .critical
        self.logger = logger
        node = try Node(
            topology: try ConfigLoader.load(path: configPath), group: group, logger: logger, relayThreads: 1,
            time: .shifted(by: time))
        try await node.start()
    }

    static func usersFile(homes: [String: String]) -> String {
        var text = "realm: \(realm)\nusers:\n"
        for (user, home) in homes.sorted(by: { $0.key < $1.key }) {
            let password = passwords[user] ?? "x"
            text += "  - uri: sip:\(user)@\(realm)\n    home-pool: \(home)\n"
            text += "    ha1-md5: \(Digest.ha1(username: user, realm: realm, password: password, algorithm: .md5))\n"
            text +=
                "    ha1-sha256: \(Digest.ha1(username: user, realm: realm, password: password, algorithm: .sha256))\n"
        }
        return text
    }

    /// Waits until the state shows both front ends up, so that no pool starts lost.
    func waitUntilHealthy() async throws {
        let up = await eventually(timeout: .seconds(5)) {
            let state = node.state.current
            return ["pool-hq", "pool-dr"].allSatisfy {
                state.health(of: ServerKey(pool: $0, server: "fe1"))?.status == .up
            }
        }
        if !up { throw SIPTestClient.Failure(description: "front ends never came up") }
    }

    /// The node's registrar.
    func registrar() async throws -> SIPRegistrar {
        guard let registrar = await node.sipRegistrar else { throw SIPTestClient.Failure(description: "no registrar") }
        return registrar
    }

    /// Stops the front end of a site (its pool goes down) or starts it again on its port.
    func setFrontEnd(_ site: String, running: Bool) async throws {
        if running {
            frontEnds[site] = try await TestSIPServer.start(port: frontEndPorts[site]!, group: group)
        } else {
            await frontEnds[site]?.stop()
            frontEnds[site] = nil
        }
    }

    /// Stops the node and starts a new one on the same config (a restart).
    func restart() async throws {
        await node.shutdown(grace: .seconds(1))
        node = try Node(
            topology: try ConfigLoader.load(path: configPath), group: group, logger: logger, relayThreads: 1,
            time: .shifted(by: time))
        try await node.start()
    }

    func shutdown() async {
        await node.shutdown(grace: .seconds(1))
        for server in frontEnds.values { await server.stop() }
        try? await group.shutdownGracefully()
        try? FileManager.default.removeItem(at: directory)
    }

    /// Runs a lab, always shut down afterwards.
    static func with<T>(
        nonceLifetime: String = "5s", namedContacts: Bool = true, hqUDPHost: String = "127.0.0.1",
        maxConnections: Int? = nil, _ body: (SIPLab) async throws -> T
    ) async throws -> T {
        let lab = try await SIPLab(
            nonceLifetime: nonceLifetime, namedContacts: namedContacts, hqUDPHost: hqUDPHost,
            maxConnections: maxConnections)
        return try await using(lab) { lab in
            try await lab.waitUntilHealthy()
            return try await body(lab)
        }
    }
}

extension SIPLab: TestResource {
    func tearDown() async { await shutdown() }
}

/// Runs a real command-line tool and returns its status and output.
func runTool(_ path: String, _ arguments: [String], timeout: Duration = .seconds(20)) throws -> BallastProcess.Output {
    try BallastProcess.run(executable: URL(fileURLWithPath: path), arguments, timeout: timeout)
}
