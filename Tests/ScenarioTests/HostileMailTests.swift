import BallastTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The IMAP and POP3 relays, plain and with TLS, attacked as an outsider would for several
/// rounds: after each, the node is alive, alice still logs in, no socket is left in CLOSE-WAIT,
/// no connection stays counted open, and resident memory does not grow round by round.
@Suite(.serialized) struct HostileMailTests {
    static let imapSeeds = [
        "a1 LOGIN alice alice-demo\r\n", "a1 LOGIN {5}\r\nalice {10}\r\nalice-demo\r\n", "a1 LOGIN {5+}\r\nalice x\r\n",
        "a1 LOGIN {-1}\r\n", "a1 LOGIN {9223372036854775807}\r\n",
        "a2 AUTHENTICATE PLAIN\r\nAGFsaWNlAGFsaWNlLWRlbW8=\r\n",
        "a3 CAPABILITY\r\na4 ID (\"name\" \"x\")\r\na5 NOOP\r\n", "a6 STARTTLS\r\n", "a7 LOGIN alice wrong\r\n",
    ]
    static let pop3Seeds = [
        "USER alice\r\nPASS alice-demo\r\n", "AUTH PLAIN AGFsaWNlAGFsaWNlLWRlbW8=\r\n",
        "AUTH PLAIN\r\nAGFsaWNlAGFsaWNlLWRlbW8=\r\n",
        "CAPA\r\nNOOP\r\n", "STLS\r\n", "USER alice\r\nPASS wrong\r\n",
    ]

    /// One round against a plain mail listener: floods, every truncation, hostile numbers, damage,
    /// abandoned and half-open clients and slow senders; held sockets must be closed by the node.
    func round(_ attack: inout Attack, lab: HostileLab) async throws -> Int {
        let before = attack.tried
        attack.connectAndClose(400)
        attack.truncations()
        attack.mutations(300)
        attack.abandon(60)
        await attack.slowSenders(10, pause: .milliseconds(200), for: .seconds(1))
        let open = attack.heldLeftOpen(within: .seconds(10))
        #expect(open.isEmpty, "held clients stayed open past timeouts.login: \(open.prefix(5))")
        attack.release()
        return attack.tried - before
    }

    func check(_ lab: HostileLab, relay: String, resident: [Int], login: () throws -> Bool) throws {
        #expect(lab.ballast.isRunning, "\(lab.ballast.log.suffix(3000))")
        #expect(try login(), "a good client was not served after the attack")
        #expect(lab.probe.lingeringCloseWaitSockets() == 0, "sockets left in CLOSE-WAIT: \(lab.probe.tcpStates)")
        #expect(try lab.metric("ballast_relay_connections_active", ["relay": relay]) == 0)
        // Memory may settle in the first round; it must not go on growing after that.
        let growth = resident.last! - resident[2]
        #expect(growth < 3 * 1024, "resident memory by round: \(resident) KiB")
    }

    @Test func imapRelay() async throws {
        try await HostileLab.with { lab in
            var attack = Attack(port: lab.ports["imap"]!, seeds: Self.imapSeeds)
            let resident = try await attackInRounds(
                4, name: "imap", probe: lab.probe, settle: { await lab.settles(relay: "imap") }
            ) { _ in
                try await round(&attack, lab: lab)
            }
            try check(lab, relay: "imap", resident: resident) { try lab.imapLogin() }
            #expect(try lab.metric("ballast_bad_input_total", ["listener": "imap"]) > 0)
        }
    }

    @Test func pop3Relay() async throws {
        try await HostileLab.with { lab in
            var attack = Attack(port: lab.ports["pop3"]!, seeds: Self.pop3Seeds)
            let resident = try await attackInRounds(
                4, name: "pop3", probe: lab.probe, settle: { await lab.settles(relay: "pop3") }
            ) { _ in
                try await round(&attack, lab: lab)
            }
            try check(lab, relay: "pop3", resident: resident) { try lab.pop3Login() }
        }
    }

    /// STARTTLS and STLS, then nothing or half a ClientHello: closed at timeouts.handshake (1 s
    /// in the lab); a client that leaves before logging in does not make shutdown wait.
    @Test func stalledSTARTTLSAndShutdown() async throws {
        try await HostileLab.with { lab in
            let hello = try clientHello()
            var stalled: [(TestSocket, ContinuousClock.Instant)] = []
            for (relay, command) in [("imap", "s STARTTLS\r\n"), ("pop3", "STLS\r\n")] {
                for partial in [[], Array(hello.prefix(40))] {
                    let socket = try TestSocket(port: lab.ports[relay]!, timeout: .seconds(5))
                    _ = try socket.readLine()
                    try socket.send(command)
                    #expect(try socket.readLine()?.contains("OK") == true)
                    try socket.send(partial)
                    stalled.append((socket, .now))
                }
            }
            for (socket, started) in stalled {
                #expect(socket.isClosedByPeer(), "a stalled STARTTLS handshake stayed open")
                #expect(ContinuousClock.now - started < .seconds(4))
            }
            // Connections before their login hold nothing: SIGTERM does not wait the drain grace for them.
            let waiting = try (0..<5).map { _ in try TestSocket(port: lab.ports["imap"]!, timeout: .seconds(5)) }
            for socket in waiting { #expect(try socket.readLine()?.hasPrefix("* OK") == true) }
            let started = ContinuousClock.now
            lab.ballast.signal(SIGTERM)
            #expect(await lab.ballast.waitForExit(timeout: .seconds(10)) != nil)
            // Well under the lab's 6 s grace, with room for a loaded machine.
            #expect(ContinuousClock.now - started < .seconds(4), "shutdown waited for clients that never logged in")
            #expect(waiting.allSatisfy { $0.isClosedByPeer() })
        }
    }

    /// Clients that pour commands in before login and never read the answers: the node stops
    /// reading each at 64 KiB of answers waiting, so its memory does not follow the flood (each
    /// client here sends 4 MiB, answers to which would take 12 MiB), and it closes them at
    /// timeouts.login.
    @Test func commandFloodsFromClientsThatDoNotReadStayBounded() async throws {
        try await HostileLab.with { lab in
            let before = try #require(lab.probe.residentKiB)
            let flood = Array(String(repeating: "n NOOP\r\n", count: 524_288).utf8)
            var clients: [TestSocket] = []
            for _ in 0..<10 {
                let socket = try TestSocket(port: lab.ports["imap"]!, timeout: .seconds(1))
                // Sends until the node stops reading and the socket's buffers are full (the send times out).
                try? socket.send(flood)
                clients.append(socket)
            }
            let during = try #require(lab.probe.residentKiB)
            #expect(during - before < 24 * 1024, "resident memory grew \(during - before) KiB under the flood")
            #expect(lab.ballast.isRunning)
            #expect(try lab.imapLogin(), "a good client was not served during the flood")
            for socket in clients { socket.close() }
            #expect(await lab.settles(relay: "imap"))
        }
    }

    /// IMAPS and POP3S: the handshake is what an outsider reaches first. ClientHellos cut at every
    /// length, damaged and random, clients that stop mid-handshake; timeouts.handshake is 1 s.
    @Test(arguments: ["imaps", "pop3s"])
    func tlsMailRelay(relay: String) async throws {
        try await HostileLab.with { lab in
            var attack = Attack(port: lab.ports[relay]!, bytes: [try clientHello()])
            let resident = try await attackInRounds(
                4, name: relay, probe: lab.probe, settle: { await lab.settles(relay: relay) }
            ) { _ in
                let before = attack.tried
                attack.connectAndClose(300)
                attack.truncations()
                attack.mutations(200)
                attack.abandon(60)
                let open = attack.heldLeftOpen(within: .seconds(10))
                #expect(open.isEmpty, "clients stalled in their handshake stayed open: \(open.prefix(5))")
                attack.release()
                return attack.tried - before
            }
            try check(lab, relay: relay, resident: resident) {
                try lab.tlsExchange(port: relay, send: "").hasPrefix(relay == "imaps" ? "* OK" : "+OK")
            }
        }
    }
}
