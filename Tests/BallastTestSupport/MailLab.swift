import BallastCodecs
import BallastConfig
import BallastCore
import BallastMail
public import BallastNode
public import BallastStore
public import Foundation
public import Logging
import NIOCore
public import NIOPosix

/// A node in this process with directory-aware IMAP, IMAPS, POP3 and POP3S relays in front of two
/// stand-in mailbox servers (mbx1, mbx2 for each protocol), its directory in a SQLite file or on
/// a PostgreSQL server: alice on DB01 (active on mbx1), bob on DB02 (active on mbx2), carol
/// without a mailbox. Passwords are USER-demo.
public final class MailLab {
    public let group: MultiThreadedEventLoopGroup
    public let folder: URL
    public let configPath: String
    public let ports: [String: Int]
    var servers: [StandInMailServer] = []
    var webServers: [TestHTTPBackend] = []
    public var node: Node
    public let logger: Logger
    public let store: DirectoryStore
    public let postgres: TestPostgres?
    public let client: String

    public static let users = ["alice": "DB01", "bob": "DB02"]

    /// `httpEngine` is the data plane of the two relays that route web requests by user.
    public init(
        postgres: Bool = false, failureDelay: String = "300ms", pollInterval: String = "200ms",
        httpEngine: String = "ballast"
    ) async throws {
        folder = try BallastProcess.makeDirectory()
        group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        var serverPorts: [String: Int] = [:]
        for (name, pop3) in [("imap-mbx1", false), ("imap-mbx2", false), ("pop3-mbx1", true), ("pop3-mbx2", true)] {
            let server = try await StandInMailServer.start(
                host: "127.0.0.1", port: 0, name: String(name.dropFirst(5)), pop3: pop3, group: group)
            servers.append(server)
            serverPorts[name] = server.port
        }
        for name in ["mbx1", "mbx2"] { webServers.append(try await TestHTTPBackend.start(name: name, group: group)) }
        ports = [
            "imap": Ports.free(), "imaps": Ports.free(), "pop3": Ports.free(), "pop3s": Ports.free(),
            "owa": Ports.free(),
            "owa-front": Ports.free(),
        ]
        let certificates = try TestCertificates(names: ["mail.contoso.com"])
        try certificates.certificatePEM.write(
            to: folder.appendingPathComponent("mail.pem"), atomically: true, encoding: .utf8)
        try certificates.keyPEM.write(to: folder.appendingPathComponent("mail.key"), atomically: true, encoding: .utf8)
        self.postgres = postgres ? try TestPostgres() : nil
        let location = self.postgres?.url ?? "directory.db"
        let tls = "certificates: [{certificate: mail.pem, key: mail.key}]"
        let yaml = """
            pools:
              mailbox:
                servers: [{name: mbx1, address: 127.0.0.1:\(serverPorts["imap-mbx1"]!)}, {name: mbx2, address: 127.0.0.1:\(serverPorts["imap-mbx2"]!)}]
              mailbox-pop3:
                servers: [{name: mbx1, address: 127.0.0.1:\(serverPorts["pop3-mbx1"]!)}, {name: mbx2, address: 127.0.0.1:\(serverPorts["pop3-mbx2"]!)}]
              web:
                servers: [{name: mbx1, address: 127.0.0.1:\(webServers[0].port)}, {name: mbx2, address: 127.0.0.1:\(webServers[1].port)}]
            relays:
              owa: {listen: 127.0.0.1:\(ports["owa"]!), protocol: http, pool: web, route-by-user: basic, engine: \(httpEngine)}
              owa-front: {listen: 127.0.0.1:\(ports["owa-front"]!), protocol: http, pool: web, route-by-user: {header: X-Remote-User}, engine: \(httpEngine)}
              imap: {listen: 127.0.0.1:\(ports["imap"]!), protocol: imap, pool: mailbox, \(tls)}
              imaps: {listen: 127.0.0.1:\(ports["imaps"]!), protocol: imaps, pool: mailbox, \(tls)}
              pop3: {listen: 127.0.0.1:\(ports["pop3"]!), protocol: pop3, pool: mailbox-pop3, \(tls)}
              pop3s: {listen: 127.0.0.1:\(ports["pop3s"]!), protocol: pop3s, pool: mailbox-pop3, \(tls)}
            store:
              location: '\(location)'
              realm: contoso.com
              poll-interval: \(pollInterval)
              failure-delay: \(failureDelay)
              cache-file: state/directory.json
            """
        configPath = folder.appendingPathComponent("ballast.yaml").path
        try yaml.write(toFile: configPath, atomically: true, encoding: .utf8)
        client = folder.appendingPathComponent("client.py").path
        try Self.clientScript.write(toFile: client, atomically: true, encoding: .utf8)
        var logger = Logger(label: "mail-lab")
        logger.logLevel = .critical
        let topology = try ConfigLoader.load(path: configPath)
        store = try await DirectoryStore.open(topology.store!.location, logger: logger)
        try await store.migrate()
        var changes: [DirectoryChange] = [
            .putDatabase(MailboxDatabase(name: "DB01", copies: ["mbx1", "mbx2"], active: "mbx1")),
            .putDatabase(MailboxDatabase(name: "DB02", copies: ["mbx1", "mbx2"], active: "mbx2")),
        ]
        for name in ["alice", "bob", "carol"] {
            changes.append(
                .putUser(
                    DirectoryUser(
                        sipURI: "sip:\(name)@contoso.com", authName: name,
                        ha1: [
                            .sha256: Digest.ha1(
                                username: name, realm: "contoso.com", password: "\(name)-demo", algorithm: .sha256)
                        ], homePool: nil,
                        mail: "\(name)@contoso.com",
                        mailboxDatabase: Self.users[name])))
        }
        try await store.apply(changes, actor: "lab")
        self.logger = logger
        node = try Node(topology: topology, group: group, logger: logger, relayThreads: 1)
        try await node.start()
    }

    /// Stops the node and starts a new one on the same config (a restart).
    public func restart() async throws {
        await node.shutdown(grace: .milliseconds(200))
        node = try Node(
            topology: try ConfigLoader.load(path: configPath), group: group, logger: logger, relayThreads: 1)
        try await node.start()
    }

    /// A logged-in IMAP session held open by the test; nil when the login failed.
    public func imapSession(_ user: String) throws -> (socket: TestSocket, server: String?) {
        let socket = try TestSocket(port: ports["imap"]!, timeout: .seconds(3))
        _ = try socket.readLine()
        try socket.send("s1 LOGIN \(user) \(user)-demo\r\n")
        let answer = try socket.readLine() ?? ""
        let server = ["mbx1", "mbx2"].first { answer.contains("Logged in at \($0)") }
        return (socket, server)
    }

    /// Runs the Python client: `imap|pop3 RELAY USER PASSWORD MODE`; returns its output lines.
    public func python(_ arguments: [String], timeout: Duration = .seconds(20)) throws -> [String] {
        var arguments = arguments
        if let relay = ports[arguments[1]] { arguments[1] = String(relay) }
        let output = try BallastProcess.run(
            executable: URL(fileURLWithPath: "/usr/bin/python3"), [client] + arguments, timeout: timeout)
        return output.stdout.split(separator: "\n").map(String.init)
            + output.stderr.split(separator: "\n").map { "stderr: \($0)" }
    }

    public func shutdown() async {
        await node.shutdown(grace: .milliseconds(200))
        await store.close()
        for server in servers { await server.stop() }
        for server in webServers { await server.stop() }
        postgres?.remove()
        try? await group.shutdownGracefully()
        try? FileManager.default.removeItem(at: folder)
    }

    /// Python's imaplib and poplib, as mail clients use them: plain, STARTTLS/STLS, implicit TLS,
    /// AUTHENTICATE PLAIN. Prints `OK <server's words>` or `NO <error>`, and the seconds it took.
    static let clientScript = #"""
        import imaplib, poplib, ssl, sys, time
        kind, port, user, password, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
        context = ssl.create_default_context(); context.check_hostname = False; context.verify_mode = ssl.CERT_NONE
        start = time.monotonic()
        try:
            if kind == "imap":
                m = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=context) if mode == "tls" else imaplib.IMAP4("127.0.0.1", port, timeout=10)
                if mode == "starttls":
                    m.starttls(ssl_context=context)
                if mode == "authplain":
                    typ, data = m.authenticate("PLAIN", lambda _: ("\0%s\0%s" % (user, password)).encode())
                else:
                    typ, data = m.login(user, password)
                typ2, _ = m.xatom("ID", "NIL")
                who = m.untagged_responses.get("ID", [b""])[0].decode()
                print("OK", data[0].decode(), "|", who, "| %.3f" % (time.monotonic() - start))
                m.logout()
            else:
                p = poplib.POP3_SSL("127.0.0.1", port, context=context) if mode == "tls" else poplib.POP3("127.0.0.1", port, timeout=10)
                if mode == "starttls":
                    p.stls(context=context)
                p.user(user)
                answer = p.pass_(password).decode()
                count, size = p.stat()
                print("OK", answer, "| stat", count, "| %.3f" % (time.monotonic() - start))
                p.quit()
        except Exception as error:
            print("NO", error, "| %.3f" % (time.monotonic() - start))
        """#
}

extension MailLab: TestResource {
    public func tearDown() async { await shutdown() }
}
