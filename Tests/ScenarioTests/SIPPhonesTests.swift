import BallastCodecs
import BallastCore
import BallastTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The phones people run, from Debian, against the demo lab's director and registrars with the
/// default digest settings: sipsak follows the director's 301 and registers at alice's home
/// registrar (with its own spelling of the username, `alice@`), and baresip 1.0 registers at the
/// home registrar over UDP and TCP and is redirected by the director.
@Suite(.serialized) struct SIPPhonesTests {
    /// Runs `body` with the demo lab up on ports from a random base.
    func withDemo(_ body: (_ base: Int) async throws -> Void) async throws {
        let demo = try await DemoProcess(bases: 10000..<20000) { base in
            let probe = try? BallastProcess.run(
                executable: URL(fileURLWithPath: "/usr/bin/sipsak"), ["-s", "sip:127.0.0.1:\(base + 60)", "-vv"],
                timeout: .seconds(5))
            return probe?.stdout.contains("200 OK") == true
        }
        defer { demo.stop() }
        try await body(demo.base)
    }

    @Test func sipsakFollowsTheDirectorsRedirectAndRegistersAtHome() async throws {
        try await withDemo { base in
            // No -u: sipsak sends the username as `alice@`, and answers the registrar with the
            // director's nonce and count.
            let sipsak = try BallastProcess.run(
                executable: URL(fileURLWithPath: "/usr/bin/sipsak"),
                [
                    "-U", "-s", "sip:alice@127.0.0.1:\(base + 60)", "-C", "sip:alice@127.0.0.1:7001", "-a",
                    "alice-demo", "-x", "600",
                    "-i", "-vv",
                ], timeout: .seconds(20))
            #expect(sipsak.stdout.contains("received redirect"), "\(sipsak.stdout)")
            #expect(sipsak.stdout.contains("All usrloc tests completed successful"), "\(sipsak.stdout)")
            let wrong = try BallastProcess.run(
                executable: URL(fileURLWithPath: "/usr/bin/sipsak"),
                [
                    "-U", "-s", "sip:alice@127.0.0.1:\(base + 60)", "-C", "sip:alice@127.0.0.1:7001", "-a", "nope",
                    "-x", "600", "-i", "-vv",
                ],
                timeout: .seconds(20))
            #expect(!wrong.stdout.contains("completed successful"), "\(wrong.stdout)")
            // The other spellings of the digest username: with the realm, and with another domain.
            let client = try SIPTestClient(port: base + 61, host: "127.0.1.10")
            let withRealm = try client.register(
                aor: "sip:alice@contoso.com", username: "alice@contoso.com", password: "alice-demo",
                contacts: ["<sip:alice@127.0.0.1:7002>"])
            #expect(withRealm.response.status == 200, "\(withRealm.response)")
            let elsewhere = try SIPTestClient(port: base + 61, host: "127.0.1.10").register(
                aor: "sip:alice@contoso.com", username: "alice@example.net", password: "alice-demo",
                contacts: ["<sip:alice@127.0.0.1:7002>"])
            #expect(elsewhere.response.status == 403)
        }
    }

    /// A client that follows a 301 may answer the home registrar with the director's nonce and
    /// count; the same count at the same server is a replay.
    @Test func aNonceMayBeAnsweredOnceAtEachServer() async throws {
        try await withDemo { base in
            let director = try SIPTestClient(port: base + 60)
            let uri = "sip:contoso.com"
            let challenge = try director.send(director.makeRequest("REGISTER", uri: uri, to: "sip:alice@contoso.com"))
            let authorization = try SIPTestClient.authorize(
                challenge: challenge, method: "REGISTER", uri: uri, username: "alice", password: "alice-demo",
                algorithm: .md5)
            let headers = [("Contact", "<sip:alice@127.0.0.1:7003>"), ("Authorization", authorization)]
            #expect(
                try director.send(
                    director.makeRequest("REGISTER", uri: uri, to: "sip:alice@contoso.com", extra: headers)
                ).status == 301)
            let home = try SIPTestClient(port: base + 61, host: "127.0.1.10")
            #expect(
                try home.send(home.makeRequest("REGISTER", uri: uri, to: "sip:alice@contoso.com", extra: headers))
                    .status == 200)
            let replay = try home.send(
                home.makeRequest("REGISTER", uri: uri, to: "sip:alice@contoso.com", extra: headers))
            #expect(replay.status == 401 && replay.all("WWW-Authenticate").allSatisfy { $0.contains("stale=true") })
        }
    }

    @Test func baresipRegistersAtHomeAndIsRedirectedByTheDirector() async throws {
        let baresip = "/usr/bin/baresip"
        try #require(
            FileManager.default.isExecutableFile(atPath: baresip),
            "baresip is not installed (scripts/test.sh installs baresip-core)")
        try await withDemo { base in
            let folder = try BallastProcess.makeDirectory()
            defer { try? FileManager.default.removeItem(at: folder) }
            /// baresip with one account whose outbound proxy is `outbound`; what it printed in 6 seconds.
            /// baresip also listens for TLS on the port after `sip_listen`'s, which nothing checked
            /// was free: when either was taken it starts again on other ports (up to 3 times).
            func register(outbound: String) throws -> String {
                var printed = ""
                for _ in 0..<3 {
                    let config =
                        "module_path /usr/lib/baresip/modules\nsip_listen 127.0.0.1:\(Ports.freePairForTCPAndUDP())\nmodule account.so\n"
                    try config.write(to: folder.appendingPathComponent("config"), atomically: true, encoding: .utf8)
                    try "<sip:alice@contoso.com>;auth_pass=alice-demo;outbound=\"\(outbound)\";regint=600\n"
                        .write(to: folder.appendingPathComponent("accounts"), atomically: true, encoding: .utf8)
                    let output = try BallastProcess.run(
                        executable: URL(fileURLWithPath: baresip), ["-f", folder.path, "-t", "6"], timeout: .seconds(20)
                    )
                    printed = output.stdout + output.stderr
                    if !printed.contains("Address already in use") { break }
                }
                return printed
            }
            for transport in ["udp", "tcp"] {
                let home = try register(outbound: "sip:127.0.1.10:\(base + 61);transport=\(transport)")
                #expect(home.contains("{0/\(transport.uppercased())/v4} 200 OK (Ballast)"), "\(home)")
            }
            let director = try register(outbound: "sip:127.0.0.1:\(base + 60)")
            #expect(director.contains("301 Redirect request to Home Server"), "\(director)")
        }
    }
    /// Twinkle 1.10 (Debian's twinkle-console), the fourth phone: pjsua is not packaged in Debian 12
    /// and linphonec sends no REGISTER without its GUI's first-run setup. It registers at the home
    /// registrar over UDP and TCP with the default MD5 challenge.
    @Test func twinkleRegistersAtHome() async throws {
        let twinkle = "/usr/bin/twinkle-console"
        try #require(
            FileManager.default.isExecutableFile(atPath: twinkle),
            "twinkle-console is not installed (scripts/test.sh installs it)")
        try await withDemo { base in
            let home = try BallastProcess.makeDirectory()
            defer { try? FileManager.default.removeItem(at: home) }
            let profiles = home.appendingPathComponent(".twinkle")
            try FileManager.default.createDirectory(at: profiles, withIntermediateDirectories: true)
            for transport in ["udp", "tcp"] {
                try """
                user_name=alice
                user_domain=contoso.com
                auth_realm=contoso.com
                auth_name=alice
                auth_pass=alice-demo
                registrar=127.0.1.10:\(base + 61)
                register_at_startup=yes
                registration_time=600
                sip_transport=\(transport)
                """.write(to: profiles.appendingPathComponent("alice.cfg"), atomically: true, encoding: .utf8)
                let port = Ports.freeForTCPAndUDP()
                try "sip_udp_port=\(port)\nrtp_port=\(Ports.free())\n".write(
                    to: profiles.appendingPathComponent("twinkle.sys"), atomically: true, encoding: .utf8)
                // Its command line reads stdin: quit after a few seconds; killed if it lingers.
                let output = try BallastProcess.run(
                    executable: URL(fileURLWithPath: "/bin/sh"),
                    [
                        "-c",
                        "(sleep 4; echo quit; sleep 2) | HOME='\(home.path)' timeout -s KILL 12 \(twinkle) alice.cfg",
                    ],
                    timeout: .seconds(20))
                #expect(
                    output.stdout.contains("alice: registration succeeded (expires = 600 seconds)"),
                    "\(transport): \(output.stdout)")
            }
        }
    }
    /// Linphone 5.1 (Debian's linphone-cli, linphonec) registers at the home registrar with the
    /// default MD5 challenge; its log (-d 3) says when the account is registered.
    @Test func linphoneRegistersAtHome() async throws {
        let linphonec = "/usr/bin/linphonec"
        try #require(
            FileManager.default.isExecutableFile(atPath: linphonec),
            "linphonec is not installed (scripts/test.sh installs linphone-cli)")
        try await withDemo { base in
            let home = try BallastProcess.makeDirectory()
            defer { try? FileManager.default.removeItem(at: home) }
            try FileManager.default.createDirectory(
                at: home.appendingPathComponent(".local/share/linphone"), withIntermediateDirectories: true)
            let config = home.appendingPathComponent("linphonerc")
            try """
            [sip]
            sip_udp_port=\(Ports.freeForTCPAndUDP())
            sip_tcp_port=-1
            default_proxy=0
            [rtp]
            audio_rtp_port=\(Ports.free())
            [proxy_0]
            reg_proxy=<sip:127.0.1.10:\(base + 61);transport=udp>
            reg_identity="Alice" <sip:alice@contoso.com>
            reg_expires=600
            reg_sendregister=1
            publish=0
            [auth_info_0]
            username=alice
            passwd=alice-demo
            realm=contoso.com
            domain=contoso.com
            """.write(to: config, atomically: true, encoding: .utf8)
            let output = try BallastProcess.run(
                executable: URL(fileURLWithPath: "/bin/sh"),
                [
                    "-c",
                    "(sleep 5; echo quit; sleep 2) | HOME='\(home.path)' timeout -s KILL 12 \(linphonec) -c '\(config.path)' -d 3 2>&1",
                ],
                timeout: .seconds(20))
            #expect(
                output.stdout.contains("moving from state [LinphoneRegistrationProgress] to [LinphoneRegistrationOk]"),
                "\(output.stdout.suffix(3000))")
        }
    }
}
