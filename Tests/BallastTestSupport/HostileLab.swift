public import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// One `ballast run` with a listener of every kind Ballast has (HTTP, HTTPS with h2, TCP taking
/// PROXY headers, DNS over UDP and TCP, SIP over UDP, TCP and TLS, IMAP, IMAPS, POP3, POP3S and the
/// admin API), real sample servers behind it as separate processes, and short timeouts, so that the
/// adversarial tests can attack each listener and then read, from outside the process, whether it
/// is alive, serves a good client and has given back its sockets and memory.
public final class HostileLab {
    /// Ports by listener name: http, https, tcp, dns, sip, sips, imap, imaps, pop3, pop3s, admin.
    public let ports: [String: Int]
    /// The node.
    public let ballast: BallastProcess
    /// Where the config, certificates and store live.
    public let folder: URL
    /// The CA that signed the lab's certificate, for clients that verify.
    public let caFile: String
    /// The admin token.
    public static let token = "hostile-lab-token"
    /// The user every good client logs in as, and its password.
    public static let user = (name: "alice", password: "alice-demo", uri: "sip:alice@contoso.com")
    private let peers: [PeerProcess]

    /// What the kernel says about the node.
    public var probe: ProcessProbe { ProcessProbe(pid: ballast.pid) }

    private init(ports: [String: Int], ballast: BallastProcess, folder: URL, caFile: String, peers: [PeerProcess]) {
        self.ports = ports
        self.ballast = ballast
        self.folder = folder
        self.caFile = caFile
        self.peers = peers
    }

    /// The node did not come up; `log` is what it said.
    struct StartFailure: Error, CustomStringConvertible {
        var log: String
        /// A port picked as free was taken (by some process's outgoing connection, say) before
        /// the node could bind it: worth another try with new ports.
        var portTaken: Bool { log.contains("Address already in use") }
        var description: String { "the hostile lab did not come up:\n\(log)" }
    }

    /// Starts the lab, runs `body`, and stops every process it started (by PID) however `body` ends.
    /// A start that fails on a port taken meanwhile is tried again with new ports, up to 3 times.
    public static func with(_ body: (HostileLab) async throws -> Void) async throws {
        for attempt in 1...3 {
            do {
                try await start(body)
                return
            } catch let failure as StartFailure where failure.portTaken && attempt < 3 {
                continue
            }
        }
    }

    private static func start(_ body: (HostileLab) async throws -> Void) async throws {
        let folder = try BallastProcess.makeDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let certificates = try TestCertificates(names: ["lab.contoso.com"])
        let certs = folder.appendingPathComponent("certs")
        try FileManager.default.createDirectory(at: certs, withIntermediateDirectories: true)
        try certificates.certificatePEM.write(
            to: certs.appendingPathComponent("server.pem"), atomically: true, encoding: .utf8)
        try certificates.keyPEM.write(to: certs.appendingPathComponent("server.key"), atomically: true, encoding: .utf8)
        let caFile = try certificates.writeCA(in: certs)

        var ports: [String: Int] = [:]
        for name in [
            "http", "http-engine", "https", "https-engine", "tcp", "imap", "imaps", "pop3", "pop3s", "admin", "web",
            "mail-imap", "mail-pop3",
        ] {
            ports[name] = Ports.free()
        }
        for name in ["dns", "sip", "sips"] { ports[name] = Ports.freeForTCPAndUDP() }

        let binary = BallastProcess.binary.path
        var peers: [PeerProcess] = []
        do {
            peers.append(
                try PeerProcess(binary, ["sample-server", "--listen", "127.0.0.1:\(ports["web"]!)", "--name", "web1"]))
            peers.append(
                try PeerProcess(
                    binary,
                    ["sample-server", "--imap", "--listen", "127.0.0.1:\(ports["mail-imap"]!)", "--name", "EX1"]))
            peers.append(
                try PeerProcess(
                    binary,
                    ["sample-server", "--pop3", "--listen", "127.0.0.1:\(ports["mail-pop3"]!)", "--name", "EX1"]))
        } catch {
            for peer in peers { peer.stop() }
            throw error
        }
        defer { for peer in peers { peer.stop() } }

        let config = Self.config(ports: ports, certs: certs.path, folder: folder.path)
        let configPath = folder.appendingPathComponent("ballast.yaml").path
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
        let users = folder.appendingPathComponent("users.json").path
        try Self.users.write(toFile: users, atomically: true, encoding: .utf8)
        let imported = try BallastProcess.run(["users", "import", "-c", configPath, users])
        guard imported.status == 0 else {
            throw TestSocket.Failure(description: "users import failed: \(imported.stdout) \(imported.stderr)")
        }

        try await withBallast(config: config) { ballast in
            let lab = HostileLab(ports: ports, ballast: ballast, folder: folder, caFile: caFile, peers: peers)
            let ready = await eventually(timeout: .seconds(30)) {
                ballast.isRunning
                    && [
                        "http", "http-engine", "https", "https-engine", "tcp", "imap", "imaps", "pop3", "pop3s", "sips",
                        "admin",
                    ].allSatisfy {
                        Ports.listeningSocketInode(port: ports[$0]!) != nil
                    } && (try? lab.imapLogin()) == true
            }
            guard ready else { throw StartFailure(log: ballast.log) }
            try await body(lab)
        }
    }

    static let users = """
        {"realm": "contoso.com",
         "databases": [{"name": "DB01", "copies": ["EX1"], "active": "EX1"}],
         "users": [{"sip-uri": "sip:alice@contoso.com", "mail": "alice@contoso.com", "password": "alice-demo",
                    "home-pool": "pool-hq", "mailbox-database": "DB01"}]}
        """

    static func config(ports p: [String: Int], certs: String, folder: String) -> String {
        let cert = "certificates: [{certificate: \(certs)/server.pem, key: \(certs)/server.key}]"
        let mail = "timeouts: {login: 3s, handshake: 1s, idle: 8s}, \(cert)"
        let txt = (1...10).map {
            "      - {name: big, type: TXT, value: \"\(String(repeating: Character(UnicodeScalar(96 + $0)!), count: 200))\"}"
        }
        return """
            node: {shutdown-grace: 6s}
            admin: {listen: 127.0.0.1:\(p["admin"]!), token: \(token)}
            sites: {hq: {}}
            pools:
              web: {site: hq, servers: [{name: web1, address: 127.0.0.1:\(p["web"]!)}]}
              imap: {site: hq, servers: [{name: EX1, address: 127.0.0.1:\(p["mail-imap"]!)}]}
              pop3: {site: hq, servers: [{name: EX1, address: 127.0.0.1:\(p["mail-pop3"]!)}]}
              pool-hq: {site: hq, servers: [{name: fe1, address: 127.0.0.1:\(Ports.free())}]}
            relays:
              http: {listen: 127.0.0.1:\(p["http"]!), protocol: http, pool: web, max-connections: 2000, timeouts: {request: 1s, keep-alive: 1s, idle: 5s}}
              http-engine: {listen: 127.0.0.1:\(p["http-engine"]!), protocol: http, engine: ballast, pool: web, max-connections: 2000, timeouts: {request: 1s, keep-alive: 1s, idle: 5s}}
              https:
                listen: 127.0.0.1:\(p["https"]!)
                protocol: https
                pool: web
                max-connections: 2000
                timeouts: {request: 1s, keep-alive: 1s, idle: 5s, handshake: 1s}
                \(cert)
              https-engine:
                listen: 127.0.0.1:\(p["https-engine"]!)
                protocol: https
                engine: ballast
                pool: web
                max-connections: 2000
                timeouts: {request: 1s, keep-alive: 1s, idle: 5s, handshake: 1s}
                \(cert)
              tcp: {listen: 127.0.0.1:\(p["tcp"]!), pool: web, accept-proxy-protocol: true, max-connections: 2000, timeouts: {idle: 5s}}
              imap: {listen: 127.0.0.1:\(p["imap"]!), protocol: imap, pool: imap, max-connections: 2000, \(mail)}
              imaps: {listen: 127.0.0.1:\(p["imaps"]!), protocol: imaps, pool: imap, max-connections: 2000, \(mail)}
              pop3: {listen: 127.0.0.1:\(p["pop3"]!), protocol: pop3, pool: pop3, max-connections: 2000, \(mail)}
              pop3s: {listen: 127.0.0.1:\(p["pop3s"]!), protocol: pop3s, pool: pop3, max-connections: 2000, \(mail)}
            dns: {listen: [127.0.0.1:\(p["dns"]!)], rate-limit: {exempt: []}, tcp-timeout: 1s}
            zones:
              contoso.com:
                ttl: 30
                soa: {primary: ns1.contoso.com, mailbox: hostmaster.contoso.com, minimum: 10}
                records:
                  - {name: "@", type: NS, value: ns1}
                  - {name: ns1, type: A, value: 127.0.0.1}
                  - {name: pool01, type: A, pool: pool-hq}
                  - {name: _sip._tls, type: SRV, priority: 0, weight: 10, port: 5061, target: pool01, pool: pool-hq}
            \(txt.joined(separator: "\n"))
            sip:
              realm: contoso.com
              handshake-timeout: 1s
              message-timeout: 1s
              \(cert)
              registrars:
                pool-hq: {listen: [udp://127.0.0.1:\(p["sip"]!), tcp://127.0.0.1:\(p["sip"]!), tls://127.0.0.1:\(p["sips"]!)]}
            store: {location: \(folder)/directory.db, realm: contoso.com, poll-interval: 200ms, failure-delay: 100ms}

            """
    }

    // MARK: Good clients

    /// Where good clients connect from: not the attackers' 127.0.0.1, which the login throttle
    /// may refuse after an attack, and an address alice has logged in from before (the lab's
    /// readiness check logs her in from it).
    public static let goodSource = "127.0.0.2"

    /// Logs alice in over plain IMAP and reads the server's name: the mail path works end to end.
    public func imapLogin(port: String = "imap") throws -> Bool {
        let socket = try TestSocket(port: ports[port]!, source: Self.goodSource, timeout: .seconds(5))
        guard try socket.readLine()?.hasPrefix("* OK") == true else { return false }
        try socket.send("a1 LOGIN \(Self.user.name) \(Self.user.password)\r\n")
        var line = try socket.readLine()
        while let text = line, text.hasPrefix("*") { line = try socket.readLine() }
        guard line?.hasPrefix("a1 OK") == true else { return false }
        try socket.send("a2 LOGOUT\r\n")
        return true
    }

    /// Logs alice in over plain POP3.
    public func pop3Login() throws -> Bool {
        let socket = try TestSocket(port: ports["pop3"]!, source: Self.goodSource, timeout: .seconds(5))
        guard try socket.readLine()?.hasPrefix("+OK") == true else { return false }
        try socket.send("USER \(Self.user.name)\r\n")
        guard try socket.readLine()?.hasPrefix("+OK") == true else { return false }
        try socket.send("PASS \(Self.user.password)\r\n")
        guard try socket.readLine()?.hasPrefix("+OK") == true else { return false }
        try socket.send("QUIT\r\n")
        return true
    }

    /// A GET through a plain HTTP relay (`http`, or `http-engine` on Ballast's engine); the response.
    public func httpGet(relay: String = "http") throws -> String? {
        let socket = try TestSocket(port: ports[relay]!, timeout: .seconds(5))
        try socket.send("GET / HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n")
        let response = String(decoding: try socket.readToEnd(limit: 1 << 20), as: UTF8.self)
        return response.hasPrefix("HTTP/1.1 200") ? response : nil
    }

    /// A GET through the TCP relay, announced by a PROXY v1 header as a front balancer would.
    public func proxiedGet() throws -> Bool {
        let socket = try TestSocket(port: ports["tcp"]!, timeout: .seconds(5))
        try socket.send(
            "PROXY TCP4 192.0.2.7 127.0.0.1 51000 \(ports["tcp"]!)\r\nGET / HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n"
        )
        return String(decoding: try socket.readToEnd(limit: 1 << 20), as: UTF8.self).hasPrefix("HTTP/1.1 200")
    }

    /// curl against an HTTPS relay, over HTTP/1.1 or h2; whether it got a 200 over that version.
    public func curlHTTPS(http2: Bool, relay: String = "https") throws -> Bool {
        let result = try BallastProcess.run(
            executable: URL(fileURLWithPath: "/usr/bin/curl"),
            [
                "-s", "-k", "--max-time", "5", http2 ? "--http2" : "--http1.1", "-o", "/dev/null", "-w",
                "%{http_code} %{http_version}",
                "https://127.0.0.1:\(ports[relay]!)/",
            ])
        return result.stdout == (http2 ? "200 2" : "200 1.1")
    }

    /// A TLS client (Python's ssl) that connects to `port`, sends `send`, and returns the first line it reads.
    public func tlsExchange(port: String, send: String) throws -> String {
        let script = """
            import socket, ssl, sys
            context = ssl.create_default_context(cafile=sys.argv[2]); context.check_hostname = False
            with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5) as raw:
                with context.wrap_socket(raw, server_hostname="lab.contoso.com") as tls:
                    first = tls.recv(4096).decode(errors="replace") if sys.argv[3] == "" else ""
                    if sys.argv[3]:
                        tls.sendall(sys.argv[3].encode().decode("unicode_escape").encode())
                        first = tls.recv(4096).decode(errors="replace")
                    print(first.splitlines()[0] if first else "")
            """
        return try BallastProcess.run(
            executable: URL(fileURLWithPath: "/usr/bin/python3"), ["-c", script, "\(ports[port]!)", caFile, send]
        ).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    // MARK: What the node says

    /// The node's metrics text.
    public func metrics() throws -> String {
        try BallastProcess.run(
            executable: URL(fileURLWithPath: "/usr/bin/curl"),
            ["-s", "--max-time", "5", "http://127.0.0.1:\(ports["admin"]!)/metrics"]
        ).stdout
    }

    /// The sum of a metric's samples whose labels contain every `labels` pair.
    public func metric(_ name: String, _ labels: [String: String] = [:]) throws -> Double {
        var total = 0.0
        for line in try metrics().split(separator: "\n") where line.hasPrefix(name + "{") || line.hasPrefix(name + " ")
        {
            let matches = labels.allSatisfy { line.contains("\($0.key)=\"\($0.value)\"") }
            if matches, let value = line.split(separator: " ").last.flatMap({ Double($0) }) { total += value }
        }
        return total
    }

    /// Waits until the node holds no socket in CLOSE-WAIT and no connection of relay `relay` is
    /// open any more; whether that happened within `timeout`.
    public func settles(relay: String?, timeout: Duration = .seconds(15)) async -> Bool {
        await eventually(timeout: timeout, every: .milliseconds(200)) {
            guard probe.closeWaitSockets == 0 else { return false }
            guard let relay else { return true }
            return (try? metric("ballast_relay_connections_active", ["relay": relay])) == 0
        }
    }
}
