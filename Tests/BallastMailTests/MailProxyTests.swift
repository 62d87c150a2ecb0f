import BallastCore
import BallastNode
import BallastStore
import BallastTestSupport
import Foundation
import Testing

/// Directory-aware IMAP and POP3 relays with real clients (Python's imaplib and poplib) in front
/// of stand-in mailbox servers: each user lands on the active copy of their database, bad
/// credentials get the protocol's error after the same delay, a move closes old sessions.
@Suite(.serialized, .tags(.timed)) struct MailProxyTests {
    @Test func eachUserLandsOnTheActiveCopyOfTheirDatabaseInEveryMode() async throws {
        let lab = try await MailLab()
        try await using(lab) { lab throws in
            for (user, server) in [("alice@contoso.com", "mbx1"), ("bob", "mbx2"), ("Alice@Contoso.COM", "mbx1")] {
                let password = "\(user.split(separator: "@")[0].lowercased())-demo"
                for mode in ["plain", "starttls", "authplain"] {
                    let out = try lab.python(["imap", "imap", user, password, mode])
                    #expect(out.first?.hasPrefix("OK ") == true, "\(user) \(mode): \(out)")
                    #expect(out.first?.contains("Logged in at \(server)") == true, "\(user) \(mode): \(out)")
                    #expect(out.first?.contains("\"name\" \"\(server)\"") == true, "\(out)")
                }
                let implicit = try lab.python(["imap", "imaps", user, password, "tls"])
                #expect(implicit.first?.contains("Logged in at \(server)") == true, "\(implicit)")
                for (relay, mode) in [("pop3", "plain"), ("pop3", "starttls"), ("pop3s", "tls")] {
                    let out = try lab.python(["pop3", relay, user, password, mode])
                    #expect(out.first?.hasPrefix("OK +OK Logged in at \(server)") == true, "\(relay) \(mode): \(out)")
                }
            }
        }
    }

    /// At `max-connections` a mail relay stops accepting, as every engine listener does: the next
    /// client's connection waits in the kernel's backlog, unanswered, until one ends or a reload
    /// raises the limit; nothing is refused.
    @Test func atItsConnectionLimitTheNextClientWaitsInTheBacklog() async throws {
        let lab = try await MailLab()
        try await using(lab) { lab throws in
            func limit(_ value: Int) async throws {
                var topology = lab.node.state.current.topology
                let index = try #require(topology.relays.firstIndex { $0.name == "imap" })
                topology.relays[index].maxConnections = value
                try await lab.node.apply(topology)
            }
            /// Reads the greeting, or nil while the client still waits for one.
            func greeting(_ socket: TestSocket) throws -> String? {
                do {
                    return try socket.readLine()
                } catch let failure as TestSocket.Failure where failure.isTimeout {
                    return nil
                }
            }
            try await limit(1)
            let port = try #require(lab.ports["imap"])
            let first = try TestSocket(port: port)
            #expect(try first.readLine()?.hasPrefix("* OK") == true)
            let second = try TestSocket(port: port, timeout: .milliseconds(700))
            #expect(try greeting(second) == nil)
            first.close()
            #expect(await eventually { (try? greeting(second))?.hasPrefix("* OK") == true })

            // The second holds the one place; a reload that raises the limit lets a third in.
            let third = try TestSocket(port: port, timeout: .milliseconds(700))
            #expect(try greeting(third) == nil)
            try await limit(2)
            #expect(await eventually { (try? greeting(third))?.hasPrefix("* OK") == true })
            #expect(await lab.node.activeConnections >= 2)
        }
    }

    /// A mail relay with several certificates serves the one naming what the client asks for
    /// (SNI), as the engine's listeners do, and the first to clients that ask for another name or none.
    @Test func aMailRelayChoosesItsCertificateBySNI() async throws {
        let lab = try await MailLab()
        try await using(lab) { lab throws in
            let fabrikam = try TestCertificates(names: ["imap.fabrikam.com"], loopbackSAN: false)
            let folder = lab.folder
            try fabrikam.certificatePEM.write(
                to: folder.appendingPathComponent("fabrikam.pem"), atomically: true, encoding: .utf8)
            try fabrikam.keyPEM.write(
                to: folder.appendingPathComponent("fabrikam.key"), atomically: true, encoding: .utf8)
            let ca = try fabrikam.writeCA(in: folder)
            var topology = lab.node.state.current.topology
            let index = try #require(topology.relays.firstIndex { $0.name == "imaps" })
            var mail = try #require(topology.relays[index].mail)
            mail.certificates.append(
                HTTPSettings.Certificate(
                    certificateFile: folder.appendingPathComponent("fabrikam.pem").path,
                    keyFile: folder.appendingPathComponent("fabrikam.key").path))
            topology.relays[index].kind = .mail(mail)
            try await lab.node.apply(topology)
            let port = try #require(lab.ports["imaps"])
            func handshake(_ name: String?) throws -> String {
                let sni = name.map { "-servername \($0)" } ?? "-noservername"
                let command =
                    "printf 'a LOGOUT\\r\\n' | timeout 10 openssl s_client -connect 127.0.0.1:\(port) -ign_eof \(sni) -CAfile \(ca) -verify_return_error 2>&1"
                return try BallastProcess.run(
                    executable: URL(fileURLWithPath: "/bin/bash"), ["-c", command], timeout: .seconds(15)
                ).stdout
            }
            let asked = try handshake("imap.fabrikam.com")
            #expect(asked.contains("Verify return code: 0 (ok)") && asked.contains("* OK"), "\(asked)")
            for other in ["mail.contoso.com", nil] {
                let output = try handshake(other)
                #expect(!output.contains("Verify return code: 0 (ok)"), "\(other ?? "no SNI"): \(output)")
            }
        }
    }

    @Test func badCredentialsGetTheProtocolsErrorAfterTheSameDelay() async throws {
        let lab = try await MailLab(failureDelay: "400ms")
        try await using(lab) { lab throws in
            var delays: [Double] = []
            for (user, password) in [
                ("alice@contoso.com", "wrong"), ("nobody@contoso.com", "alice-demo"), ("alice", ""),
            ] {
                let imap = try lab.python(["imap", "imap", user, password.isEmpty ? "x" : password, "plain"])
                #expect(
                    imap.first?.hasPrefix("NO ") == true && imap.first?.contains("AUTHENTICATIONFAILED") == true,
                    "\(imap)")
                let pop = try lab.python(["pop3", "pop3", user, password.isEmpty ? "x" : password, "plain"])
                #expect(pop.first?.contains("-ERR [AUTH] Authentication failed") == true, "\(pop)")
                for line in [imap.first, pop.first] {
                    if let seconds = line?.split(separator: "|").last.flatMap({
                        Double($0.trimmingCharacters(in: .whitespaces))
                    }) {
                        delays.append(seconds)
                    }
                }
            }
            #expect(delays.count == 6)
            #expect(delays.allSatisfy { $0 >= 0.4 && $0 < 2.0 }, "\(delays)")
            let homeless = try lab.python(["imap", "imap", "carol", "carol-demo", "plain"])
            #expect(homeless.first?.contains("UNAVAILABLE") == true, "\(homeless)")
        }
    }

    /// Guessing from one address over IMAP and POP3 together: the address is refused (answered as
    /// a failed login), even with the right password, while alice from the address she uses goes on.
    @Test func passwordGuessingFromOneAddressIsRefused() async throws {
        let lab = try await MailLab(failureDelay: "100ms")
        try await using(lab) { lab throws in
            let home = try TestSocket(port: lab.ports["imap"]!, source: "127.0.0.2", timeout: .seconds(3))
            _ = try home.readLine()
            try home.send("h1 LOGIN alice alice-demo\r\nh2 LOGOUT\r\n")
            #expect(try home.readLine()?.contains("h1 OK") == true)
            // Twenty guesses at once, half over IMAP and half over POP3, so that none waits for the last.
            var guesses: [TestSocket] = []
            for index in 0..<20 {
                let pop = index % 2 == 1
                let socket = try TestSocket(
                    port: lab.ports[pop ? "pop3" : "imap"]!, source: "127.0.0.3", timeout: .seconds(3))
                _ = try socket.readLine()
                try socket.send(pop ? "USER alice\r\nPASS guess\(index)\r\n" : "g LOGIN alice guess\(index)\r\n")
                guesses.append(socket)
            }
            // Every guess counted: the address is refused (their answers come later, ever more delayed).
            #expect(
                await eventually {
                    lab.node.loginThrottle.check(user: "alice", source: IPAddress("127.0.0.3")!) != .allow
                })
            let started = ContinuousClock.now
            let late = try TestSocket(port: lab.ports["imap"]!, source: "127.0.0.3", timeout: .seconds(3))
            _ = try late.readLine()
            try late.send("r LOGIN alice alice-demo\r\n")
            let refused = try late.readLine() ?? ""
            #expect(refused.hasPrefix("r NO [AUTHENTICATIONFAILED]"), "\(refused)")
            #expect(ContinuousClock.now - started < .seconds(2), "a refusal waits only the usual failure delay")
            let again = try TestSocket(port: lab.ports["imap"]!, source: "127.0.0.2", timeout: .seconds(3))
            _ = try again.readLine()
            try again.send("h3 LOGIN alice alice-demo\r\n")
            #expect(try again.readLine()?.contains("h3 OK") == true, "alice from her own address")
            #expect(guesses.count == 20)
        }
    }

    @Test func activatingAnotherCopyClosesOldSessionsWithinASecondAndNewOnesLandThere() async throws {
        let lab = try await MailLab()
        try await using(lab) { lab throws in
            var sessions: [TestSocket] = []
            for _ in 0..<3 {
                let socket = try TestSocket(port: lab.ports["imap"]!, timeout: .seconds(3))
                _ = try socket.readLine()
                try socket.send("a1 LOGIN alice alice-demo\r\n")
                let answer = try socket.readLine()
                #expect(answer?.contains("Logged in at mbx1") == true, "\(answer ?? "nil")")
                sessions.append(socket)
            }
            let pop = try TestSocket(port: lab.ports["pop3"]!, timeout: .seconds(3))
            _ = try pop.readLine()
            try pop.send("USER alice\r\nPASS alice-demo\r\n")
            _ = try pop.readLine()
            #expect(try pop.readLine()?.contains("Logged in at mbx1") == true)
            sessions.append(pop)
            let bob = try TestSocket(port: lab.ports["imap"]!, timeout: .seconds(3))
            _ = try bob.readLine()
            try bob.send("b1 LOGIN bob bob-demo\r\n")
            #expect(try bob.readLine()?.contains("Logged in at mbx2") == true)

            let moved = ContinuousClock.now
            try await lab.store.apply([.activate(database: "DB01", server: "mbx2")], actor: "test")
            // Each client is told why, in its protocol, before the close.
            for (index, socket) in sessions.enumerated() {
                let last = try socket.readLine() ?? ""
                let expected =
                    index == sessions.count - 1
                    ? "-ERR [SYS/TEMP] Your mailbox moved" : "* BYE [UNAVAILABLE] Your mailbox moved"
                #expect(last.hasPrefix(expected), "\(last)")
                #expect(socket.isClosedByPeer(), "a session to the old server stayed open")
            }
            let elapsed = ContinuousClock.now - moved
            #expect(elapsed < .seconds(1), "sessions closed after \(elapsed)")
            // Bob's database did not move: his session goes on.
            try bob.send("b2 NOOP\r\n")
            #expect(try bob.readLine()?.hasPrefix("b2 OK") == true)
            let again = try lab.python(["imap", "imap", "alice", "alice-demo", "plain"])
            #expect(again.first?.contains("Logged in at mbx2") == true, "\(again)")
            let history = try await lab.store.history(subject: "DB01", limit: 1)
            #expect(history.first?.action == "database.activate" && history.first?.detail == "active=mbx2")

            // Bob moves to DB01 (now on mbx2 too): his session on mbx2 for DB02 is closed as well, and
            // his next login is routed by his new database.
            var rehomed = try #require(try await lab.store.snapshot().user(sipURI: "sip:bob@contoso.com"))
            rehomed.mailboxDatabase = "DB01"
            try await lab.store.apply([.activate(database: "DB01", server: "mbx1"), .putUser(rehomed)], actor: "test")
            #expect(try bob.readLine()?.hasPrefix("* BYE [UNAVAILABLE]") == true)
            #expect(bob.isClosedByPeer(), "bob's session stayed open after his mailbox moved")
            let bobAgain = try lab.python(["imap", "imap", "bob", "bob-demo", "plain"])
            #expect(bobAgain.first?.contains("Logged in at mbx1") == true, "\(bobAgain)")
        }
    }

    @Test func malformedAndOversizedInputGetsBADAndTheConnectionStaysBounded() async throws {
        let lab = try await MailLab()
        try await using(lab) { lab throws in
            let socket = try TestSocket(port: lab.ports["imap"]!, timeout: .seconds(3))
            _ = try socket.readLine()
            try socket.send("\"unclosed LOGIN\r\na1 SELECT INBOX\r\na2 AUTHENTICATE CRAM-MD5\r\na3 LOGIN {5}\r\n")
            #expect(try socket.readLine()?.hasPrefix("* BAD") == true)
            #expect(try socket.readLine()?.hasPrefix("a1 BAD Log in first") == true)
            #expect(try socket.readLine()?.hasPrefix("a2 NO [CANNOT]") == true)
            #expect(try socket.readLine()?.hasPrefix("+ ") == true)
            try socket.send("alice {10}\r\n")
            #expect(try socket.readLine()?.hasPrefix("+ ") == true)
            try socket.send("alice-demo\r\n")
            #expect(try socket.readLine()?.contains("Logged in at mbx1") == true)
            let flood = try TestSocket(port: lab.ports["pop3"]!, timeout: .seconds(3))
            _ = try flood.readLine()
            try? flood.send(String(repeating: "A", count: 5000))
            #expect(try flood.readLine()?.hasPrefix("-ERR") == true)
            #expect(flood.isClosedByPeer())
        }
    }

    /// STARTTLS on the engine's TLS: what the client pipelined in plain text after the command is
    /// dropped, not run inside TLS (CVE-2011-0411 class); the session then logs in over TLS.
    @Test func startTLSDropsPlainTextPipelinedAfterIt() async throws {
        let lab = try await MailLab()
        try await using(lab) { lab throws in
            let script = """
                import socket, ssl, sys
                s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
                f = s.makefile("rb")
                print(f.readline().decode().strip())
                s.sendall(b"a STARTTLS\\r\\nb LOGIN alice alice-demo\\r\\n")
                print(f.readline().decode().strip())
                context = ssl.create_default_context(); context.check_hostname = False; context.verify_mode = ssl.CERT_NONE
                t = context.wrap_socket(s)
                t.sendall(b"c NOOP\\r\\nd LOGIN alice alice-demo\\r\\n")
                g = t.makefile("rb")
                print(g.readline().decode().strip())
                print(g.readline().decode().strip())
                """
            let output = try BallastProcess.run(
                executable: URL(fileURLWithPath: "/usr/bin/python3"), ["-c", script, "\(lab.ports["imap"]!)"],
                timeout: .seconds(20)
            ).stdout.split(separator: "\n").map(String.init)
            #expect(output.count == 4, "\(output)")
            #expect(output.first?.contains("STARTTLS") == true, "\(output)")
            #expect(output.dropFirst().first == "a OK Begin TLS negotiation now.", "\(output)")
            #expect(output.dropFirst(2).first == "c OK NOOP completed.", "b's plain-text LOGIN ran: \(output)")
            #expect(output.dropFirst(3).first?.hasPrefix("d OK") == true, "\(output)")
        }
    }

    /// A client that opens an implicit-TLS connection and never completes its handshake is closed
    /// after timeouts.handshake; one that reads the greeting but never logs in, after timeouts.login.
    @Test func stalledHandshakesAndLoginsAreClosedOnTime() async throws {
        let lab = try await MailLab()
        try await using(lab) { lab throws in
            var topology = lab.node.state.current.topology
            for name in ["imap", "imaps"] {
                let index = try #require(topology.relays.firstIndex { $0.name == name })
                var mail = try #require(topology.relays[index].mail)
                mail.timeouts = MailSettings.Timeouts(handshake: .seconds(1), login: .seconds(2))
                topology.relays[index].kind = .mail(mail)
            }
            try await lab.node.apply(topology)
            let silent = try TestSocket(port: lab.ports["imaps"]!, timeout: .seconds(4))
            let idle = try TestSocket(port: lab.ports["imap"]!, timeout: .seconds(5))
            #expect(try idle.readLine()?.hasPrefix("* OK") == true)
            let started = ContinuousClock.now
            // Each read waits for the close, up to its socket's timeout.
            #expect(silent.isClosedByPeer(), "a silent TLS client stayed past timeouts.handshake")
            #expect(ContinuousClock.now - started >= .milliseconds(900), "closed before timeouts.handshake")
            #expect(idle.isClosedByPeer(), "a client that never logged in stayed past timeouts.login")
            #expect(ContinuousClock.now - started >= .milliseconds(1900), "closed before timeouts.login")
        }
    }

    /// After login the relay moves bytes both ways through the client's TLS, a slow reader holding
    /// back a fast writer: 40,000 pipelined commands over implicit TLS all get their answer, in
    /// order, and the server's close after LOGOUT ends the session.
    @Test func aLoggedInSessionOverTLSRelaysEveryPipelinedCommand() async throws {
        let lab = try await MailLab()
        try await using(lab) { lab throws in
            let script = """
                import selectors, socket, ssl, sys, time
                context = ssl.create_default_context(); context.check_hostname = False; context.verify_mode = ssl.CERT_NONE
                t = context.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20))
                t.recv(4096)
                t.sendall(b"a LOGIN alice alice-demo\\r\\n")
                print(t.recv(4096).decode().strip())
                out = b"n NOOP\\r\\n" * 40000 + b"z LOGOUT\\r\\n"
                sent, rest, answered, other, ended = 0, b"", 0, 0, False
                t.setblocking(False)
                selector = selectors.DefaultSelector()
                selector.register(t, selectors.EVENT_READ | selectors.EVENT_WRITE)
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline and not ended:
                    if t.pending() == 0: selector.select(1)
                    if sent < len(out):
                        try: sent += t.send(out[sent:sent + 16384])
                        except (ssl.SSLWantReadError, ssl.SSLWantWriteError): pass
                        if sent == len(out): selector.modify(t, selectors.EVENT_READ)
                    try: data = t.recv(65536)
                    except (ssl.SSLWantReadError, ssl.SSLWantWriteError): continue
                    except ssl.SSLError: data = b""
                    if not data: ended = True
                    lines = (rest + data).split(b"\\r\\n")
                    rest = lines.pop()
                    for line in lines:
                        if line.startswith(b"n OK"): answered += 1
                        elif not line.startswith(b"* BYE") and not line.startswith(b"z OK"): other += 1
                print(answered, other, ended)
                """
            let output = try BallastProcess.run(
                executable: URL(fileURLWithPath: "/usr/bin/python3"), ["-c", script, "\(lab.ports["imaps"]!)"],
                timeout: .seconds(40)
            ).stdout.split(separator: "\n").map(String.init)
            #expect(output.first?.contains("Logged in at mbx1") == true, "\(output)")
            #expect(output.dropFirst().first == "40000 0 True", "\(output)")
            #expect(await eventually { await lab.node.activeConnections == 0 }, "the session stayed open after LOGOUT")
        }
    }

    /// A client that sends commands before login faster than it reads the answers: Ballast stops
    /// reading at 64 KiB of answers waiting and goes on as the client reads, losing none.
    @Test func aClientThatDoesNotReadIsHeldBackNotDropped() async throws {
        let lab = try await MailLab()
        try await using(lab) { lab throws in
            let script = """
                import socket, sys, threading, time
                s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
                count = 60000
                sender = threading.Thread(target=lambda: s.sendall(b"n NOOP\\r\\n" * count))
                sender.start()
                time.sleep(1)
                f = s.makefile("rb")
                f.readline()
                answered = 0
                while answered < count:
                    line = f.readline()
                    if not line: break
                    if line == b"n OK NOOP completed.\\r\\n": answered += 1
                sender.join()
                print(answered)
                """
            let output = try BallastProcess.run(
                executable: URL(fileURLWithPath: "/usr/bin/python3"), ["-c", script, "\(lab.ports["imap"]!)"],
                timeout: .seconds(40)
            ).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(output == "60000")
        }
    }
}
