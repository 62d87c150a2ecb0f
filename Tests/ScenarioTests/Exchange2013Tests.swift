import BallastCore
import BallastTestSupport
import Foundation
import Testing

/// Deployment D3 end to end: the example config moved onto loopback, its users imported with
/// `ballast users import`, two Dovecot servers as EX1 and EX2, the real binary, Python's imaplib
/// as the mail client, and `ballast db activate` moving DB01 from EX1 to EX2.
@Suite(.serialized) struct Exchange2013Tests {
    static let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("examples")

    static let client = #"""
        import imaplib, ssl, sys
        port, user, password, tls = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4] == "tls"
        context = ssl.create_default_context(); context.check_hostname = False; context.verify_mode = ssl.CERT_NONE
        try:
            m = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=context) if tls else imaplib.IMAP4("127.0.0.1", port, timeout=10)
            m.login(user, password)
            m.xatom("ID", "NIL")
            who = m.untagged_responses.get("ID", [b""])[0].decode()
            typ, data = m.select("INBOX")
            print("OK", who, typ)
            m.logout()
        except Exception as error:
            print("NO", error)
        """#

    @Test func usersLandOnTheirActiveCopyAndFollowAMove() async throws {
        let folder = try BallastProcess.makeDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let certificates = try TestCertificates(names: ["mail.contoso.com"])
        let certs = folder.appendingPathComponent("certs")
        try FileManager.default.createDirectory(at: certs, withIntermediateDirectories: true)
        for (name, text) in [
            ("ca.pem", certificates.caPEM), ("webext.pem", certificates.certificatePEM),
            ("webext.key", certificates.keyPEM),
        ] {
            try text.write(to: certs.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        let passwords = ["alice": "alice-demo", "bob": "bob-demo", "carol": "carol-demo"]
        let ex1 = try TestDovecot(name: "EX1", users: passwords)
        defer { ex1.stop() }
        let ex2 = try TestDovecot(name: "EX2", users: passwords)
        defer { ex2.stop() }
        let ports = [
            "143": Ports.free(), "993": Ports.free(), "110": Ports.free(), "995": Ports.free(), "443": Ports.free(),
        ]
        var config = try String(contentsOf: Self.examples.appendingPathComponent("exchange-2013.yaml"), encoding: .utf8)
        let replacements: [(String, String)] =
            [
                ("10.0.0.21}", "127.0.0.1:\(ex1.port)}"), ("10.0.0.22}", "127.0.0.1:\(ex2.port)}"),
                ("10.1.0.21}", "127.0.0.1:\(Ports.free())}"), ("127.0.0.1:9900", "127.0.0.1:\(Ports.free())"),
                ("/var/lib/ballast/directory.db", folder.appendingPathComponent("directory.db").path),
                ("failure-delay: 2s", "failure-delay: 200ms"), ("certs/", certs.path + "/"),
            ] + ports.map { ("10.0.0.10:\($0.key)", "127.0.0.1:\($0.value)") }
        for (from, to) in replacements {
            config = config.replacingOccurrences(of: from, with: to)
        }
        let configPath = folder.appendingPathComponent("ballast.yaml").path
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
        let imported = try BallastProcess.run(
            [
                "users", "import", "-c", configPath,
                Self.examples.appendingPathComponent("users/exchange-2013.json").path,
            ])
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(imported.stdout.contains("3 users, 2 databases imported"), "\(imported.stdout)")
        let script = folder.appendingPathComponent("client.py").path
        try Self.client.write(toFile: script, atomically: true, encoding: .utf8)
        func login(_ user: String, port: String = "143", tls: Bool = false) throws -> String {
            try BallastProcess.run(
                executable: URL(fileURLWithPath: "/usr/bin/python3"),
                [
                    script, "\(ports[port]!)", user, passwords[user.split(separator: "@")[0].lowercased()] ?? "x",
                    tls ? "tls" : "plain",
                ]
            ).stdout
        }

        try await withBallast(config: config) { ballast in
            #expect(
                await eventually(timeout: .seconds(10)) { (try? login("alice"))?.hasPrefix("OK") == true },
                "\(ballast.log)")
            #expect(try login("alice@contoso.com").contains("\"name\" \"EX1\""))
            #expect(try login("bob", port: "993", tls: true).contains("\"name\" \"EX2\""))
            #expect(try login("carol").contains("\"name\" \"EX1\""))

            // An open session of carol's (DB01) to EX1, held by the test.
            let held = try TestSocket(port: ports["143"]!, timeout: .seconds(3))
            _ = try held.readLine()
            try held.send("h1 LOGIN carol carol-demo\r\n")
            #expect(try held.readLine()?.hasPrefix("h1 OK") == true)

            let moved = try BallastProcess.run(["db", "activate", "-c", configPath, "DB01", "--on", "EX2"])
            #expect(moved.stdout.contains("DB01: active copy EX1 -> EX2"), "\(moved.stdout) \(moved.stderr)")
            #expect(try held.readLine()?.hasPrefix("* BYE [UNAVAILABLE]") == true)
            #expect(held.isClosedByPeer(), "carol's session to EX1 stayed open")
            // `db activate` returned once the node served the move: three logins right after land on EX2.
            for _ in 0..<3 { #expect((try? login("alice"))?.contains("\"name\" \"EX2\"") == true) }
            #expect(try login("bob").contains("\"name\" \"EX2\""))
            #expect(try login("alice", port: "993", tls: true).contains("\"name\" \"EX2\""))
            let wrong = try BallastProcess.run(
                executable: URL(fileURLWithPath: "/usr/bin/python3"),
                [script, "\(ports["143"]!)", "alice", "nope", "plain"])
            #expect(wrong.stdout.contains("AUTHENTICATIONFAILED"))

            // Activating where the copy is already active writes nothing, and says so (through the
            // node and straight to the store).
            let before = try BallastProcess.run(["db", "history", "-c", configPath, "DB01"]).stdout
            let again = try BallastProcess.run(["db", "activate", "-c", configPath, "DB01", "--on", "EX2"])
            #expect(
                again.status == 0 && again.stdout.contains("DB01: the active copy is already on EX2; nothing changed"),
                "\(again.stdout)")
            let direct = try BallastProcess.run(["db", "activate", "-c", configPath, "DB01", "--on", "EX2", "--direct"])
            #expect(direct.stdout.contains("already on EX2; nothing changed"), "\(direct.stdout) \(direct.stderr)")
            let history = try BallastProcess.run(["db", "history", "-c", configPath, "DB01"])
            #expect(history.stdout == before)
            #expect(
                history.stdout.split(separator: "\n").first?.contains("database.activate  DB01  active=EX2") == true)
            let list = try BallastProcess.run(["db", "list", "-c", configPath])
            #expect(list.stdout.contains("DB01  EX1, EX2 (active), EX3  2 users"), "\(list.stdout)")
        }
    }
}
