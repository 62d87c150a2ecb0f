import BallastTestSupport
import Foundation
import NIOHTTP1
import Testing

/// Deployment D1 end to end: the example config itself, moved onto loopback (the pool's
/// address becomes 127.0.0.20, the front ends 127.0.0.21-23, each port a free one), in front of
/// real TLS web servers that accept no plain HTTP, with curl as the client.
@Suite(.serialized) struct LyncWebServicesTests {
    static let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("examples/lync-web-services.yaml")

    @Test func externalClientsArePinnedByCookieAndInternalOnesBySource() async throws {
        let certificates = try TestCertificates(names: ["pool01.contoso.com"])
        let folder = try BallastProcess.makeDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let certs = folder.appendingPathComponent("certs")
        try FileManager.default.createDirectory(at: certs, withIntermediateDirectories: true)
        let caFile = try certificates.writeCA(in: certs)
        try certificates.certificatePEM.write(
            to: certs.appendingPathComponent("webext.pem"), atomically: true, encoding: .utf8)
        try certificates.keyPEM.write(to: certs.appendingPathComponent("webext.key"), atomically: true, encoding: .utf8)

        let (internalPort, externalPort, serverPort) = (Ports.free(), Ports.free(), Ports.free())
        let (sipPort, dnsPort) = (Ports.free(), Ports.free())
        var backends: [TestHTTPBackend] = []
        for index in 1...3 {
            for port in [internalPort, serverPort] {
                backends.append(
                    try await TestHTTPBackend.start(
                        name: "fe0\(index)", host: "127.0.0.2\(index)", port: port,
                        tls: try certificates.serverContext()))
            }
        }
        var sip: [TestBackend] = []
        for index in 1...3 {
            sip.append(
                try await TestBackend.start(
                    name: "sip0\(index)", host: "127.0.0.2\(index)", port: sipPort,
                    tls: try certificates.serverContext()))
        }
        let started = backends
        let sipStarted = sip
        try await using(started) { _ throws in
            try await using(sipStarted) { _ throws in
                var config = try String(contentsOf: Self.example, encoding: .utf8)
                for (from, to) in [
                    ("10.0.1.53:53", "127.0.0.1:\(dnsPort)"), ("port: 5061", "port: \(sipPort)"),
                    // The backup pool's servers: loopback addresses where nothing listens, so that checks
                    // are refused at once and nothing leaves the machine.
                    ("[10.0.2.11, 10.0.2.12]", "[127.0.0.81, 127.0.0.82]"),
                    ("interval: 2s", "interval: 300ms"), ("timeout: 1s", "timeout: 250ms"),
                    ("10.0.1.10:443", "127.0.0.20:\(internalPort)"), ("10.0.1.10:4443", "127.0.0.20:\(externalPort)"),
                    ("forward-port: 4443", "forward-port: \(serverPort)"), ("10.0.1.1", "127.0.0.2"),
                    ("certs/", certs.path + "/"), ("interval: 5s", "interval: 300ms"),
                    ("timeout: 2s", "timeout: 250ms"),
                ] {
                    config = config.replacingOccurrences(of: from, with: to)
                }
                try await withBallast(config: config) { ballast in
                    let external = "https://pool01.contoso.com:\(externalPort)/meet/"
                    let resolve = [
                        "--resolve", "pool01.contoso.com:\(externalPort):127.0.0.20",
                        "--resolve", "pool01.contoso.com:\(internalPort):127.0.0.20",
                    ]
                    func curl(_ arguments: [String]) throws -> BallastProcess.Output {
                        try BallastProcess.run(
                            executable: URL(fileURLWithPath: "/usr/bin/curl"),
                            ["-sS", "--max-time", "10", "--cacert", caFile] + resolve + arguments)
                    }
                    #expect(
                        await eventually(timeout: .seconds(20)) {
                            (try? curl([external]).stdout.hasPrefix("fe0")) == true
                        },
                        "\(ballast.log)")
                    // External: TLS terminated by Ballast, each request pinned by the inserted cookie.
                    let jar = folder.appendingPathComponent("jar").path
                    let first = try curl(["-D", "-", "-c", jar, external])
                    #expect(first.stdout.contains("BALLAST_FE="), "\(first)")
                    #expect(first.stdout.contains("Secure") && first.stdout.contains("HttpOnly"))
                    let pinned = String(first.stdout.suffix(4))
                    for _ in 0..<5 { #expect(try curl(["-b", jar, external]).stdout == pinned) }
                    #expect(
                        try curl(["--http2", "-b", jar, "-w", " %{http_version}", external]).stdout == "\(pinned) 2")
                    // Without the cookie, requests spread over the pool.
                    let spread = Set(try (0..<9).map { _ in try curl([external]).stdout })
                    #expect(spread.count > 1)
                    // Re-encryption: the servers saw HTTPS only, and who the client was.
                    let seen = backends.filter { $0.port == serverPort }.flatMap(\.requests).filter {
                        $0.headers.first(name: "user-agent")?.hasPrefix("curl") == true
                    }
                    #expect(!seen.isEmpty && seen.allSatisfy { $0.headers.first(name: "x-forwarded-proto") == "https" })
                    #expect(seen.allSatisfy { $0.headers.first(name: "x-forwarded-for") == "127.0.0.1" })
                    // Internal: TLS passes through to the front end; one client address, one front end.
                    let internalURL = "https://pool01.contoso.com:\(internalPort)/"
                    let answers = Set(try (0..<5).map { _ in try curl([internalURL]).stdout })
                    #expect(answers.count == 1 && answers.first?.hasPrefix("fe0") == true, "\(answers)")

                    // SIP by DNS: the primary pool's SRV at priority 0, the backup pool's (down here)
                    // dropped; one A record per healthy front end, following a death.
                    func dig(_ name: String, _ type: String) throws -> [String] {
                        try Dig.short(port: dnsPort, name, type)
                    }
                    #expect(
                        await eventually(timeout: .seconds(10)) {
                            (try? dig("_sipinternaltls._tcp.contoso.com", "SRV")) == [
                                "0 10 \(sipPort) pool01.contoso.com."
                            ]
                        })
                    #expect(try dig("_sip._tls.contoso.com", "SRV") == ["0 10 \(sipPort) pool01.contoso.com."])
                    #expect(try dig("pool01.contoso.com", "A") == ["127.0.0.21", "127.0.0.22", "127.0.0.23"])
                    await sip[1].stop()
                    #expect(
                        await eventually(timeout: .seconds(3)) {
                            (try? dig("pool01.contoso.com", "A")) == ["127.0.0.21", "127.0.0.23"]
                        })
                }
            }
        }
    }
}
