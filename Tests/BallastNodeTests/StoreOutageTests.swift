import BallastConfig
import BallastCore
import BallastNode
import BallastStore
import BallastTestSupport
import Foundation
import Testing

/// The directory on a real PostgreSQL: changes arrive by NOTIFY; when the server stops, the node
/// serves from its last state and writes are refused; when it returns, the node catches up.
@Suite(.serialized, .tags(.timed)) struct StoreOutageTests {
    @Test func notificationsMoveSessionsWithoutWaitingForAPoll() async throws {
        let lab = try await MailLab(postgres: true, pollInterval: "30s")
        try await using(lab) { lab throws in
            // LISTEN starts in the background: a change the node sees before its 30 s poll proves it is up.
            var attempt = 0
            #expect(
                try await eventually(timeout: .seconds(10), every: .milliseconds(100)) {
                    attempt += 1
                    try await lab.store.apply(
                        [.setContacts(sipURI: "sip:carol@contoso.com", contacts: ["n\(attempt)"])], actor: "test")
                    return await eventually(timeout: .milliseconds(300)) {
                        lab.node.state.current.directory.user(login: "carol")?.contacts == ["n\(attempt)"]
                    }
                }, "the node never saw a change by NOTIFY")
            let session = try lab.imapSession("alice")
            #expect(session.server == "mbx1")
            let moved = ContinuousClock.now
            try await lab.store.apply([.activate(database: "DB01", server: "mbx2")], actor: "test")
            #expect(try session.socket.readLine()?.hasPrefix("* BYE [UNAVAILABLE]") == true)
            #expect(session.socket.isClosedByPeer())
            #expect(ContinuousClock.now - moved < .seconds(1))
            #expect(try lab.imapSession("alice").server == "mbx2")
        }
    }

    @Test func aNodeServesFromItsLastStateWhileThePostgresServerIsDownAndCatchesUp() async throws {
        let lab = try await MailLab(postgres: true, pollInterval: "200ms")
        try await using(lab) { lab throws in
            let postgres = try #require(lab.postgres)
            #expect(try lab.imapSession("alice").server == "mbx1")
            postgres.stop()
            // Traffic flows from the last applied directory.
            #expect(try lab.imapSession("alice").server == "mbx1")
            #expect(try lab.imapSession("bob").server == "mbx2")
            // Writes are refused with a reason the operator can act on, through the CLI as through the API.
            do {
                try await lab.store.apply([.activate(database: "DB01", server: "mbx2")], actor: "test")
                Issue.record("a write succeeded with the store down")
            } catch let error as StoreError {
                #expect(error.code == .unreachable)
            }
            let cli = try BallastProcess.run(
                ["db", "activate", "-c", lab.configPath, "DB01", "--on", "mbx2"], timeout: .seconds(30))
            #expect(cli.status != 0)
            #expect(cli.stderr.contains("changes are refused until the store"), "\(cli.stderr)")
            // A node that starts now runs from the cache file.
            try await lab.restart()
            #expect(try lab.imapSession("alice").server == "mbx1")

            try postgres.start()
            #expect(
                await eventually(timeout: .seconds(20), every: .milliseconds(200)) {
                    (try? await lab.store.apply([.activate(database: "DB01", server: "mbx2")], actor: "test")) != nil
                })
            #expect(
                await eventually(timeout: .seconds(5), every: .milliseconds(100)) {
                    (try? lab.imapSession("alice").server) == "mbx2"
                },
                "the node did not catch up after the store returned")
        }
    }
    /// PostgreSQL down: a node started now serves its last directory from its first connection
    /// (loaded before any listener opens); a read from the CLI is answered from it, marked stale;
    /// and after a long outage (PostgresNIO's own retries would wait about 9 s by then) writes
    /// through the node work again at once and the node serves them within a poll or two.
    @Test func aNodeStartedDuringAnOutageServesAtOnceAndCatchesUpQuickly() async throws {
        let lab = try await MailLab(postgres: true, pollInterval: "200ms")
        try await using(lab) { lab throws in
            let postgres = try #require(lab.postgres)
            #expect(try lab.imapSession("alice").server == "mbx1")
            postgres.stop()
            await lab.node.shutdown(grace: .milliseconds(200))
            let node = try Node(
                topology: try ConfigLoader.load(path: lab.configPath), group: lab.group, logger: lab.logger,
                relayThreads: 1
            )
            lab.node = node
            let starting = Task { try await node.start() }
            var first: String??
            _ = await eventually(timeout: .seconds(15)) {
                first = (try? lab.imapSession("alice")).map(\.server)
                return first != nil
            }
            #expect(first == .some("mbx1"), "the first login after the start got \(String(describing: first))")
            try await starting.value

            let export = try BallastProcess.run(["users", "export", "-c", lab.configPath], timeout: .seconds(30))
            #expect(export.status == 0 && export.stdout.contains("sip:alice@contoso.com"), "\(export.stderr)")
            #expect(
                export.stderr.contains("warning: the store is unreachable")
                    && export.stderr.contains("last applied directory"))

            try await Task.sleep(for: .seconds(15))
            try postgres.start()
            // Writes through the node work again at once (its store is a fresh client, not one that
            // waits out PostgresNIO's backoff), and the node serves what they wrote within a poll or two.
            let restarted = ContinuousClock.now
            var moved: ContinuousClock.Instant?
            _ = await eventually(timeout: .seconds(20)) {
                guard let store = await lab.node.directoryStore,
                    (try? await store.apply(
                        [.activate(database: "DB01", server: "mbx2")], actor: "operator via the node")) != nil
                else { return false }
                moved = .now
                return true
            }
            let written = try #require(moved, "no write through the node succeeded after PostgreSQL came back")
            #expect(
                written - restarted < .seconds(2),
                "writes through the node failed for \(written - restarted) after PostgreSQL was back")
            var server: String?
            _ = try await eventually(timeout: .seconds(10), every: .milliseconds(50)) {
                server = try lab.imapSession("alice").server
                return server == "mbx2"
            }
            let servedAfter = ContinuousClock.now - written
            print(
                "store outage of 15 s: first write through the node \(written - restarted) after PostgreSQL was back; served \(servedAfter) after that write"
            )
            #expect(server == "mbx2")
            #expect(servedAfter < .seconds(3), "the node caught up \(servedAfter) after the write")
        }
    }
}
