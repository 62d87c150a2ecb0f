import BallastCodecs
import BallastCore
import BallastSIP
import BallastSIPRegistrar
import BallastTestSupport
import Foundation
import Testing

/// The director and registrar over real sockets: digest, redirects, bindings, the backup
/// registrar, with our own client for exact headers and sipsak and Net::SIP as real ones.
@Suite(.serialized, .tags(.timed))
struct SIPServerRegistrarTests {
    let alice = "sip:alice@lab.example"
    let bob = "sip:bob@lab.example"

    @Test func aChallengeOffersMD5AndSHA256AndRevealsNothingAboutHomes() async throws {
        try await SIPLab.with { lab in
            let client = try SIPTestClient(port: lab.drPort)
            let challenge = try client.send(
                client.makeRequest(
                    "REGISTER", uri: "sip:lab.example", to: alice, extra: [("Contact", "<sip:alice@127.0.0.1:7001>")]))
            #expect(challenge.status == 401)
            let offers = challenge.all("WWW-Authenticate").compactMap { DigestHeader($0) }
            #expect(offers.map { $0["algorithm"] } == ["MD5", "SHA-256"])
            // One nonce per offer: each is bound to its algorithm.
            #expect(Set(offers.compactMap { $0["nonce"] }).count == 2)
            #expect(offers.allSatisfy { $0["realm"] == "lab.example" && $0["qop"] == "auth" })
            #expect(challenge.all("Contact").isEmpty)
            let text = String(decoding: SIPMessageWriter.encode(challenge), as: UTF8.self)
            #expect(!text.contains("hq.lab.example") && !text.contains("pool-hq"))
            let via = try #require(challenge.first("Via").flatMap { SIPVia($0) })
            #expect(via.parameters.contains { $0.name == "rport" && $0.value == "\(client.localPort)" })
            #expect(via.parameters.contains { $0.name == "received" && $0.value == "127.0.0.1" })
            #expect(SIPNameAddress(challenge.first("To") ?? "")?.parameter("tag") != nil)
        }
    }

    @Test func homeUsersRegisterWithMD5OrSHA256() async throws {
        try await SIPLab.with { lab in
            for algorithm in DigestAlgorithm.allCases {
                let client = try SIPTestClient(port: lab.hqPort)
                let contact = "sip:alice@127.0.0.1:\(algorithm == .md5 ? 7001 : 7002)"
                let result = try client.register(
                    aor: alice, password: "secret-alice", contacts: ["<\(contact)>"], expires: 120, algorithm: algorithm
                )
                #expect(result.response.status == 200, "\(algorithm)")
                #expect(result.response.all("Contact").contains { $0.hasPrefix("<\(contact)>;expires=1") })
                #expect(result.response.first("Presence-State") == nil)
            }
            let bound = try await lab.registrar().bindings(of: alice, at: "pool-hq").map(\.uri)
            #expect(Set(bound) == ["sip:alice@127.0.0.1:7001", "sip:alice@127.0.0.1:7002"])
        }
    }

    /// A listener on 0.0.0.0 answers from the address it was asked on, the 200 that waited for
    /// the registrations file and the 403 held back for a wrong password included: the client's
    /// connected socket takes answers from that address only.
    @Test func aWildcardListenerAnswersFromTheAddressAsked() async throws {
        try await SIPLab.with(hqUDPHost: "0.0.0.0") { lab in
            let client = try SIPTestClient(port: lab.hqPort, host: "127.0.0.3")
            let result = try client.register(
                aor: alice, password: "secret-alice", contacts: ["<sip:alice@127.0.0.1:7005>"])
            #expect(result.response.status == 200)
            // From the fourth failure on, the 403 is held back and sent from outside the loop.
            for attempt in 0..<5 {
                let wrong = try SIPTestClient(
                    port: lab.hqPort, host: "127.0.0.4", source: "127.0.0.9", timeout: .seconds(10)
                )
                .register(aor: alice, password: "wrong\(attempt)", contacts: ["<sip:alice@127.0.0.1:7006>"])
                #expect(wrong.response.status == 403, "attempt \(attempt)")
            }
        }
    }

    @Test func aWrongPasswordAndAnUnknownUserGet403AfterTheChallenge() async throws {
        try await SIPLab.with { lab in
            let wrong = try SIPTestClient(port: lab.hqPort).register(
                aor: alice, password: "guess", contacts: ["<sip:alice@127.0.0.1:7001>"])
            #expect(wrong.challenge?.status == 401)
            #expect(wrong.response.status == 403)
            let unknown = try SIPTestClient(port: lab.hqPort).register(
                aor: "sip:mallory@lab.example", password: "guess", contacts: ["<sip:m@127.0.0.1:7001>"])
            #expect(unknown.response.status == 403)
            #expect(unknown.response.startLine == wrong.response.startLine)
            // alice's password does not register bob.
            let other = try SIPTestClient(port: lab.hqPort).register(
                aor: bob, username: "alice", password: "secret-alice", contacts: ["<sip:b@127.0.0.1:7001>"])
            #expect(other.response.status == 403)
        }
    }

    @Test func aReplayedOrForgedNonceIsChallengedAgain() async throws {
        try await SIPLab.with { lab in
            let client = try SIPTestClient(port: lab.hqPort)
            let contact = ("Contact", "<sip:alice@127.0.0.1:7001>")
            let challenge = try client.send(
                client.makeRequest("REGISTER", uri: "sip:lab.example", to: alice, extra: [contact]))
            let authorization = try SIPTestClient.authorize(
                challenge: challenge, method: "REGISTER", uri: "sip:lab.example", username: "alice",
                password: "secret-alice", algorithm: .md5)
            let first = try client.send(
                client.makeRequest(
                    "REGISTER", uri: "sip:lab.example", to: alice, extra: [contact, ("Authorization", authorization)]))
            #expect(first.status == 200)
            let replay = try client.send(
                client.makeRequest(
                    "REGISTER", uri: "sip:lab.example", to: alice, extra: [contact, ("Authorization", authorization)]))
            #expect(replay.status == 401)
            #expect(replay.all("WWW-Authenticate").allSatisfy { DigestHeader($0)?["stale"] == "true" })
            // The next count on the same nonce is fine.
            let next = try SIPTestClient.authorize(
                challenge: challenge, method: "REGISTER", uri: "sip:lab.example", username: "alice",
                password: "secret-alice", algorithm: .md5, nc: "00000002")
            let counted = try client.send(
                client.makeRequest(
                    "REGISTER", uri: "sip:lab.example", to: alice, extra: [contact, ("Authorization", next)]))
            #expect(counted.status == 200)
            let forged = authorization.replacingOccurrences(of: "nonce=\"0", with: "nonce=\"1")
            let refused = try client.send(
                client.makeRequest(
                    "REGISTER", uri: "sip:lab.example", to: alice, extra: [contact, ("Authorization", forged)]))
            #expect(refused.status == 401)
            #expect(refused.all("WWW-Authenticate").allSatisfy { DigestHeader($0)?["stale"] == nil })
        }
    }

    @Test func anExpiredNonceIsStale() async throws {
        try await SIPLab.with(nonceLifetime: "1s") { lab in
            let client = try SIPTestClient(port: lab.hqPort)
            let contact = ("Contact", "<sip:alice@127.0.0.1:7001>")
            let challenge = try client.send(
                client.makeRequest("REGISTER", uri: "sip:lab.example", to: alice, extra: [contact]))
            lab.time.advance(by: .milliseconds(2100))
            let authorization = try SIPTestClient.authorize(
                challenge: challenge, method: "REGISTER", uri: "sip:lab.example", username: "alice",
                password: "secret-alice", algorithm: .sha256)
            let late = try client.send(
                client.makeRequest(
                    "REGISTER", uri: "sip:lab.example", to: alice, extra: [contact, ("Authorization", authorization)]))
            #expect(late.status == 401)
            #expect(late.all("WWW-Authenticate").allSatisfy { DigestHeader($0)?["stale"] == "true" })
        }
    }

    @Test func anExpiredNonceWithAWrongPasswordIsForbiddenNotStale() async throws {
        try await SIPLab.with(nonceLifetime: "1s") { lab in
            let client = try SIPTestClient(port: lab.hqPort)
            let contact = ("Contact", "<sip:alice@127.0.0.1:7001>")
            let challenge = try client.send(
                client.makeRequest("REGISTER", uri: "sip:lab.example", to: alice, extra: [contact]))
            lab.time.advance(by: .milliseconds(2100))
            let authorization = try SIPTestClient.authorize(
                challenge: challenge, method: "REGISTER", uri: "sip:lab.example", username: "alice",
                password: "not-her-password", algorithm: .md5)
            let late = try client.send(
                client.makeRequest(
                    "REGISTER", uri: "sip:lab.example", to: alice, extra: [contact, ("Authorization", authorization)]))
            #expect(late.status == 403, "a stale nonce tells nothing to a client that does not hold the password")
        }
    }

    @Test func aNonceIsGoodOnlyForTheAlgorithmItWasIssuedFor() async throws {
        try await SIPLab.with { lab in
            let client = try SIPTestClient(port: lab.hqPort)
            let contact = ("Contact", "<sip:alice@127.0.0.1:7001>")
            let challenge = try client.send(
                client.makeRequest("REGISTER", uri: "sip:lab.example", to: alice, extra: [contact]))
            let offers = challenge.all("WWW-Authenticate").compactMap { DigestHeader($0) }
            let strongNonce = try #require(offers.first { $0["algorithm"] == "SHA-256" }?["nonce"])
            // The SHA-256 challenge's nonce answered with MD5: the nonce is not one of MD5's.
            let ha1 = Digest.ha1(username: "alice", realm: "lab.example", password: "secret-alice", algorithm: .md5)
            let response = Digest.expectedResponse(
                ha1: ha1, method: "REGISTER", uri: "sip:lab.example", nonce: strongNonce, nc: "00000001", cnonce: "c",
                qop: "auth", algorithm: .md5)
            let moved =
                "Digest username=\"alice\", realm=\"lab.example\", nonce=\"\(strongNonce)\", uri=\"sip:lab.example\", response=\"\(response)\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"c\""
            let answer = try client.send(
                client.makeRequest(
                    "REGISTER", uri: "sip:lab.example", to: alice, extra: [contact, ("Authorization", moved)]))
            #expect(answer.status == 401)
            #expect(answer.all("WWW-Authenticate").allSatisfy { DigestHeader($0)?["stale"] == nil })
        }
    }

    /// Guessing from one address: the first failures are answered at once, then later and later,
    /// then the address is refused (with Retry-After) even with the right password; the user,
    /// logged in before from another address, goes on there.
    @Test func passwordGuessingIsDelayedThenRefused() async throws {
        try await SIPLab.with { lab in
            let contact = "<sip:alice@127.0.0.2:7001>"
            let home = try SIPTestClient(port: lab.hqPort, source: "127.0.0.2")
            #expect(try home.register(aor: alice, password: "secret-alice", contacts: [contact]).response.status == 200)

            let guesser = try SIPTestClient(port: lab.hqPort, source: "127.0.0.3", timeout: .seconds(12))
            let challenge = try guesser.send(guesser.makeRequest("REGISTER", uri: "sip:lab.example", to: alice))
            let wrong = try SIPTestClient.authorize(
                challenge: challenge, method: "REGISTER", uri: "sip:lab.example", username: "alice", password: "guess",
                algorithm: .md5)
            let request = guesser.makeRequest(
                "REGISTER", uri: "sip:lab.example", to: alice, extra: [("Authorization", wrong)])
            let started = ContinuousClock.now
            for _ in 0..<20 { try guesser.sendRaw(SIPMessageWriter.encode(request)) }
            // Three failures answered at once, then 250 ms, 500 ms, 1 s, ... later; from the tenth
            // failure on, alice is refused at once to addresses she does not use.
            var answered: [(Duration, SIPMessage)] = []
            while answered.count < 16, ContinuousClock.now - started < .seconds(3) {
                let answer = try guesser.receive()
                answered.append((ContinuousClock.now - started, answer))
            }
            #expect(answered.allSatisfy { $0.1.status == 403 })
            let prompt = answered.filter { $0.0 < .milliseconds(200) }
            let later = answered.filter { $0.0 >= .milliseconds(240) }
            #expect(prompt.count == 13, "\(answered.map { ($0.0, $0.1.startLine) })")
            #expect(prompt.filter { $0.1.first("Retry-After") != nil }.count == 10)
            #expect(later.count == 3 && later[0].0 < .milliseconds(700) && later[2].0 >= .milliseconds(950))

            let right = try SIPTestClient(port: lab.hqPort, source: "127.0.0.3").register(
                aor: alice, password: "secret-alice", contacts: [contact])
            #expect(right.response.status == 403)
            #expect(
                right.response.first("Retry-After").flatMap(Int.init) ?? 0 > 60, "the address is refused for minutes")
            #expect(try home.register(aor: alice, password: "secret-alice", contacts: [contact]).response.status == 200)
        }
    }

    /// A 301 keeps the transport the REGISTER came on: over TCP, the registrars' TCP listeners.
    @Test func redirectsKeepTheRequestsTransport() async throws {
        try await SIPLab.with(namedContacts: false) { lab in
            let overTCP = try SIPTestClient(port: lab.hqPort, tcp: true).register(
                aor: bob, password: "secret-bob", contacts: ["<sip:bob@127.0.0.1:7003;transport=tcp>"])
            #expect(overTCP.response.status == 301)
            #expect(
                overTCP.response.all("Contact") == [
                    "<sip:127.0.0.1:\(lab.drPort);transport=tcp>;q=0.7",
                    "<sip:127.0.0.1:\(lab.hqPort);transport=tcp>;q=0.3",
                ])
            let overUDP = try SIPTestClient(port: lab.hqPort).register(
                aor: bob, password: "secret-bob", contacts: ["<sip:bob@127.0.0.1:7003>"])
            #expect(
                overUDP.response.all("Contact") == [
                    "<sip:127.0.0.1:\(lab.drPort)>;q=0.7", "<sip:127.0.0.1:\(lab.hqPort)>;q=0.3",
                ])
        }
    }

    @Test func usersHomedElsewhereAre301RedirectedHomeFirstThenBackup() async throws {
        try await SIPLab.with { lab in
            let atHQ = try SIPTestClient(port: lab.hqPort).register(
                aor: bob, password: "secret-bob", contacts: ["<sip:bob@127.0.0.1:7003>"])
            #expect(atHQ.response.startLine == .response(status: 301, reason: "Redirect request to Home Server"))
            #expect(
                atHQ.response.all("Contact") == [
                    "<sip:dr.lab.example:5061;transport=tls>;q=0.7", "<sip:hq.lab.example:5061;transport=tls>;q=0.3",
                ])
            let atDirector = try SIPTestClient(port: lab.directorPort).register(
                aor: alice, password: "secret-alice", contacts: ["<sip:alice@127.0.0.1:7001>"], algorithm: .sha256)
            #expect(atDirector.response.status == 301)
            #expect(
                atDirector.response.all("Contact") == [
                    "<sip:hq.lab.example:5061;transport=tls>;q=0.7", "<sip:dr.lab.example:5061;transport=tls>;q=0.3",
                ])
            // Nothing is bound where the user was redirected from.
            #expect(try await lab.registrar().bindings(of: bob, at: "pool-hq").isEmpty == true)
        }
    }

    @Test func bindingsRefreshExpireAndUnregister() async throws {
        try await SIPLab.with { lab in
            let client = try SIPTestClient(port: lab.hqPort)
            let one = "<sip:alice@127.0.0.1:7001>"
            let two = "<sip:alice@127.0.0.1:7002>;expires=2"
            var result = try client.register(aor: alice, password: "secret-alice", contacts: [one, two], expires: 300)
            #expect(result.response.status == 200)
            #expect(result.response.all("Contact").count == 2)
            #expect(
                result.response.all("Contact").contains {
                    $0.hasPrefix("<sip:alice@127.0.0.1:7002>;expires=") && $0.hasSuffix("=1") || $0.hasSuffix("=2")
                })
            // A query (no Contact) lists what is bound.
            result = try client.register(aor: alice, password: "secret-alice", contacts: [])
            #expect(result.response.all("Contact").count == 2)
            // Too brief: 423 with Min-Expires.
            result = try client.register(aor: alice, password: "secret-alice", contacts: [one], expires: 1)
            #expect(result.response.status == 423)
            #expect(result.response.first("Min-Expires") == "2")
            // The 2-second contact lapses.
            let lapsed = try await eventually(timeout: .seconds(5), every: .milliseconds(200)) {
                let query = try client.register(aor: alice, password: "secret-alice", contacts: [])
                return query.response.all("Contact").count == 1
            }
            #expect(lapsed)
            // Expires: 0 removes one; * removes all.
            result = try client.register(aor: alice, password: "secret-alice", contacts: [two], expires: 300)
            #expect(result.response.all("Contact").count == 2)
            result = try client.register(
                aor: alice, password: "secret-alice", contacts: ["<sip:alice@127.0.0.1:7002>;expires=0"])
            #expect(result.response.all("Contact").count == 1)
            result = try client.register(aor: alice, password: "secret-alice", contacts: ["*"], expires: 0)
            #expect(result.response.status == 200)
            #expect(result.response.all("Contact").isEmpty)
            // * with a non-zero expiry is malformed.
            result = try client.register(aor: alice, password: "secret-alice", contacts: ["*"], expires: 60)
            #expect(result.response.status == 400)
            // More contacts than allowed.
            let many = (1...4).map { "<sip:alice@127.0.0.1:\(7100 + $0)>" }
            result = try client.register(aor: alice, password: "secret-alice", contacts: many, expires: 60)
            #expect(result.response.status == 403)
        }
    }

    @Test func anOldCSeqOnTheSameCallIDIsRefused() async throws {
        try await SIPLab.with { lab in
            let client = try SIPTestClient(port: lab.hqPort)
            let contact = ("Contact", "<sip:alice@127.0.0.1:7001>")
            let challenge = try client.send(
                client.makeRequest("REGISTER", uri: "sip:lab.example", to: alice, extra: [contact]))
            let auth1 = try SIPTestClient.authorize(
                challenge: challenge, method: "REGISTER", uri: "sip:lab.example", username: "alice",
                password: "secret-alice", algorithm: .md5)
            var late = client.makeRequest(
                "REGISTER", uri: "sip:lab.example", to: alice, extra: [contact, ("Authorization", auth1)])
            #expect(try client.send(late).status == 200)
            let auth2 = try SIPTestClient.authorize(
                challenge: challenge, method: "REGISTER", uri: "sip:lab.example", username: "alice",
                password: "secret-alice", algorithm: .md5, nc: "00000002")
            late.set("Authorization", auth2)
            late.set("CSeq", "1 REGISTER")
            #expect(try client.send(late).status == 500)
        }
    }

    @Test func sipsakRegistersQueriesOptionsAndIsRefusedAWrongPassword() async throws {
        try await SIPLab.with { lab in
            let sipsak = "/usr/bin/sipsak"
            let good = try runTool(
                sipsak,
                [
                    "-U", "-s", "sip:alice@127.0.0.1:\(lab.hqPort)", "-u", "alice", "-a", "secret-alice", "-x", "120",
                    "-i",
                    "-C", "sip:alice@127.0.0.1:7009", "-vv",
                ])
            #expect(good.status == 0, "\(good.stdout)\(good.stderr)")
            #expect(good.stdout.contains("completed successful"))
            let bound = try await lab.registrar().bindings(of: alice, at: "pool-hq").map(\.uri)
            #expect(bound.contains("sip:alice@127.0.0.1:7009"))
            let wrong = try runTool(
                sipsak,
                [
                    "-U", "-s", "sip:alice@127.0.0.1:\(lab.hqPort)", "-u", "alice", "-a", "nope", "-x", "120", "-i",
                    "-C", "sip:alice@127.0.0.1:7010", "-vv",
                ])
            let after = try await lab.registrar().bindings(of: alice, at: "pool-hq").map(\.uri)
            #expect(!after.contains("sip:alice@127.0.0.1:7010"))
            #expect(wrong.status != 0)
            #expect(!wrong.stdout.contains("completed successful"))
            // A user homed elsewhere: the 301 names home, then backup.
            let redirected = try runTool(
                sipsak,
                [
                    "-U", "-s", "sip:bob@127.0.0.1:\(lab.hqPort)", "-u", "bob", "-a", "secret-bob", "-x", "120", "-i",
                    "-C", "sip:bob@127.0.0.1:7012", "-vvv", "--ignore-redirects",
                ])
            // sipsak prints the final answer it did not want (not a 200) on standard error.
            let printed = redirected.stdout + redirected.stderr
            #expect(printed.contains("SIP/2.0 301 Redirect request to Home Server"), "\(printed)")
            let home = printed.range(of: "Contact: <sip:dr.lab.example:5061;transport=tls>;q=0.7")
            let backup = printed.range(of: "Contact: <sip:hq.lab.example:5061;transport=tls>;q=0.3")
            #expect(home != nil && backup != nil && home!.lowerBound < backup!.lowerBound, "\(printed)")
            let options = try runTool(sipsak, ["-s", "sip:127.0.0.1:\(lab.hqPort)", "-vv"])
            #expect(options.status == 0, "\(options.stdout)\(options.stderr)")
            #expect(options.stdout.contains("200 OK"))
            #expect(options.stdout.contains("Allow: REGISTER, OPTIONS"))
        }
    }

    @Test func netSIPRegistersExpiresAndUnregisters() async throws {
        try await SIPLab.with { lab in
            let script = lab.directory.appendingPathComponent("register.pl").path
            try """
            use strict; use warnings; use Net::SIP;
            my ($port, $user, $pass, $expires) = @ARGV;
            my $ua = Net::SIP::Simple->new(registrar => "127.0.0.1:$port", domain => 'lab.example',
                from => "sip:$user\\@lab.example", auth => [$user, $pass], leg => '127.0.0.1:0');
            my $result = $ua->register(expires => $expires);
            if ($ua->error) { print "failed: " . $ua->error . "\\n"; exit 1 }
            print "registered " . ($result // 0) . "\\n"; exit 0;
            """.write(toFile: script, atomically: true, encoding: .utf8)
            func netSIP(_ user: String, _ password: String, expires: Int) throws -> String {
                let output = try runTool("/usr/bin/perl", [script, "\(lab.hqPort)", user, password, "\(expires)"])
                return output.stdout + output.stderr
            }
            #expect(try netSIP("alice", "secret-alice", expires: 90).contains("registered 90"))
            #expect(try await lab.registrar().bindings(of: alice, at: "pool-hq").count == 1)
            // Unregister: Expires 0.
            #expect(try netSIP("alice", "secret-alice", expires: 0).contains("registered"))
            #expect(try await lab.registrar().bindings(of: alice, at: "pool-hq").isEmpty)
            // A 2-second registration lapses.
            #expect(try netSIP("alice", "secret-alice", expires: 2).contains("registered 2"))
            #expect(try await lab.registrar().bindings(of: alice, at: "pool-hq").count == 1)
            let lapsed = try await eventually(timeout: .seconds(5), every: .milliseconds(100)) {
                try await lab.registrar().bindings(of: alice, at: "pool-hq").isEmpty
            }
            #expect(lapsed)
            #expect(try netSIP("alice", "nope", expires: 90).contains("403"))
            #expect(try netSIP("bob", "secret-bob", expires: 90).contains("301"))
        }
    }

    @Test func theBackupRegistrarServesALostPoolAndSendsUsersHomeAfterFallback() async throws {
        try await SIPLab.with { lab in
            let contact = ["<sip:alice@127.0.0.1:7001>"]
            let before = try SIPTestClient(port: lab.drPort).register(
                aor: alice, password: "secret-alice", contacts: contact)
            #expect(before.response.status == 301)

            try await lab.setFrontEnd("hq", running: false)
            let stopped = ContinuousClock.now
            var accepted: SIPMessage?
            _ = try await eventually(timeout: .seconds(5), every: .milliseconds(100)) {
                let attempt = try SIPTestClient(port: lab.drPort).register(
                    aor: alice, password: "secret-alice", contacts: contact)
                if attempt.response.status == 200 { accepted = attempt.response }
                return accepted != nil
            }
            let failover = stopped.duration(to: .now)
            let response = try #require(accepted)
            #expect(
                response.first("Presence-State")
                    == "register-action=\"added\";primary-cluster-type=\"central\";is-connected-to-primary=\"no\"")
            #expect(failover < .seconds(3), "failover took \(failover)")
            #expect(try await lab.registrar().lostPools == ["pool-hq"])
            #expect(try await lab.registrar().bindings(of: alice, at: "pool-dr").first?.resiliency == true)
            // The home registrar, whose pool is lost, names only the backup.
            let atHome = try SIPTestClient(port: lab.hqPort).register(
                aor: alice, password: "secret-alice", contacts: contact)
            #expect(atHome.response.status == 301)
            #expect(atHome.response.all("Contact") == ["<sip:dr.lab.example:5061;transport=tls>;q=0.7"])
            // bob, homed at the surviving pool, is unaffected.
            let bobAtDR = try SIPTestClient(port: lab.drPort).register(
                aor: bob, password: "secret-bob", contacts: ["<sip:bob@127.0.0.1:7003>"])
            #expect(bobAtDR.response.status == 200)
            #expect(bobAtDR.response.first("Presence-State") == nil)

            try await lab.setFrontEnd("hq", running: true)
            let restarted = ContinuousClock.now
            // Within the fallback interval the backup keeps serving (hold-down).
            let held = try SIPTestClient(port: lab.drPort).register(
                aor: alice, password: "secret-alice", contacts: contact)
            #expect(held.response.status == 200)
            var redirectedHome: SIPMessage?
            _ = try await eventually(timeout: .seconds(6), every: .milliseconds(100)) {
                let attempt = try SIPTestClient(port: lab.drPort).register(
                    aor: alice, password: "secret-alice", contacts: contact)
                if attempt.response.status == 301 { redirectedHome = attempt.response }
                return redirectedHome != nil
            }
            let home = try #require(redirectedHome)
            #expect(restarted.duration(to: .now) >= .milliseconds(1500))
            #expect(home.all("Contact").first == "<sip:hq.lab.example:5061;transport=tls>;q=0.7")
            #expect(try await lab.registrar().bindings(of: alice, at: "pool-dr").isEmpty == true)
        }
    }

    @Test func bindingsSurviveARestart() async throws {
        try await SIPLab.with { lab in
            let client = try SIPTestClient(port: lab.hqPort)
            let result = try client.register(
                aor: alice, password: "secret-alice", contacts: ["<sip:alice@127.0.0.1:7011>"], expires: 600)
            #expect(result.response.status == 200)
            try await lab.restart()
            let bound = try await lab.registrar().bindings(of: alice, at: "pool-hq")
            #expect(bound.map(\.uri) == ["sip:alice@127.0.0.1:7011"])
            #expect(bound.first.map { $0.remaining(at: Date().timeIntervalSince1970) } ?? 0 > 590)
            // Every phone's contact and address: readable by Ballast's user only.
            let file = lab.directory.appendingPathComponent("state/registrations.jsonl").path
            let mode = try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int
            #expect(mode == 0o600)
        }
    }
}
