import BallastCodecs
import BallastConfig
import BallastCore
import BallastNode
import BallastTestSupport
import Foundation
import Logging
import NIOCore
import NIOPosix
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A node in this process serving a zone over UDP and TCP, queried with dig, in front of
/// real servers whose health the zone follows.
final class DNSLab: Sendable {
    let node: Node
    let backends: [TestBackend]
    let port: Int
    let group: MultiThreadedEventLoopGroup
    let directory: URL

    /// `maxTCPConnections`: `dns.max-tcp-connections`, when set.
    init(extraZone: String = "", secondaryPort: Int? = nil, maxTCPConnections: Int? = nil) async throws {
        directory = try BallastProcess.makeDirectory()
        group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        var backends: [TestBackend] = []
        for index in 1...3 {
            backends.append(
                try await TestBackend.start(name: "fe\(index)", host: "127.0.0.\(30 + index)", group: group))
        }
        self.backends = backends
        port = Ports.free()
        let servers = backends.enumerated().map {
            "      - {name: fe\($0 + 1), address: 127.0.0.\(31 + $0):\($1.port)}"
        }
        let many = (1...60).map { "      - {name: many, type: A, value: 10.9.0.\($0)}" }
        let yaml = """
            checks:
              tcp: {type: tcp, interval: 200ms, timeout: 150ms, rise: 2, fall: 2}
            pools:
              fe:
                check: tcp
                servers:
            \(servers.joined(separator: "\n"))
              dr:
                servers: [127.0.0.41:5061]
            dns:
              listen: 127.0.0.1:\(port)
              udp-sockets: 3
            \(maxTCPConnections.map { "  max-tcp-connections: \($0)" } ?? "")
            zones:
              contoso.com:
                ttl: 300
                soa: {minimum: 30}
            \(secondaryPort.map { "    secondaries: [127.0.0.1:\($0)]" } ?? "")
                records:
                  - {name: "@", type: NS, value: ns1}
                  - {name: ns1, type: A, value: 127.0.0.53}
                  - {name: pool01, type: A, pool: fe, ttl: 5}
                  - {name: pool02, type: A, pool: dr, ttl: 5}
                  - {name: _sip._tls, type: SRV, priority: 0, weight: 10, port: 5061, target: pool01, pool: fe}
                  - {name: _sip._tls, type: SRV, priority: 10, weight: 10, port: 5061, target: pool02, pool: dr}
                  - {name: "@", type: MX, preference: 10, value: mail}
                  - {name: mail, type: A, value: 10.0.0.25}
                  - {name: www, type: CNAME, value: pool01}
                  - {name: "@", type: TXT, value: "v=spf1 mx -all"}
            \(many.joined(separator: "\n"))
            \(extraZone)
            """
        let path = directory.appendingPathComponent("ballast.yaml").path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        var logger = Logger(label: "dns-lab")
        logger.logLevel = .critical
        node = try Node(topology: try ConfigLoader.load(path: path), group: group, logger: logger, relayThreads: 1)
        try await node.start()
    }

    /// dig against the lab's server; `arguments` after the server and port.
    func dig(_ arguments: [String]) throws -> String {
        try BallastProcess.run(
            executable: URL(fileURLWithPath: "/usr/bin/dig"),
            ["@127.0.0.1", "-p", "\(port)", "+norecurse", "+time=2", "+tries=1"] + arguments, timeout: .seconds(20)
        ).stdout
    }

    func short(_ name: String, _ type: String = "A", _ more: [String] = []) throws -> [String] {
        try Dig.short(port: port, name, type, more)
    }

    func shutdown() async {
        await node.shutdown(grace: .milliseconds(100))
        for backend in backends { await backend.stop() }
        try? await group.shutdownGracefully()
        try? FileManager.default.removeItem(at: directory)
    }
}

@Suite(.serialized, .tags(.timed)) struct DNSServerTests {
    @Test func answersOverUDPAndTCPWithAuthority() async throws {
        let lab = try await DNSLab()
        try await using(lab) { lab throws in
            #expect(await eventually(timeout: .seconds(5)) { (try? lab.short("pool01.contoso.com").count) == 3 })
            for transport in ["+notcp", "+tcp"] {
                let full = try lab.dig([transport, "pool01.contoso.com", "A"])
                #expect(full.contains("status: NOERROR") && full.contains("flags: qr aa;"), "\(full)")
                #expect(
                    try lab.short("pool01.contoso.com", "A", [transport]) == ["127.0.0.31", "127.0.0.32", "127.0.0.33"])
            }
            let srv = try lab.dig(["_sip._tls.contoso.com", "SRV"])
            #expect(srv.contains("ANSWER: 2") && srv.contains("0 10 5061 pool01.contoso.com."), "\(srv)")
            #expect(srv.contains("ADDITIONAL: 5"), "SRV targets' addresses and the OPT record: \(srv)")
            let mx = try lab.dig(["contoso.com", "MX"])
            #expect(mx.contains("mail.contoso.com.") && mx.contains("10.0.0.25"))
            let chain = try lab.short("WWW.Contoso.COM")
            #expect(chain == ["127.0.0.31", "127.0.0.32", "127.0.0.33", "pool01.contoso.com."], "\(chain)")
            #expect(try lab.short("contoso.com", "TXT") == ["\"v=spf1 mx -all\""])
        }
    }

    /// Every pool-bound name cycles through every order of its three servers, over UDP (from
    /// fresh source ports, so through every socket's cache) and over TCP, however the names are
    /// interleaved.
    @Test func everyNameCyclesThroughEveryOrderOverUDPAndTCP() async throws {
        let names = (1...30).map { "rot\($0)" }
        let lab = try await DNSLab(
            extraZone: names.map { "      - {name: \($0), type: A, pool: fe}" }.joined(separator: "\n"))
        try await using(lab) { lab throws in
            #expect(await eventually(timeout: .seconds(5)) { (try? lab.short("rot1.contoso.com").count) == 3 })
            for tcp in [false, true] {
                var firsts: [String: Set<String>] = [:]
                for _ in 0..<12 {
                    for name in names {
                        let answer = try DNSQuery.ask(port: lab.port, "\(name).contoso.com", type: DNSType.a, tcp: tcp)
                        let addresses = answer.answers.compactMap {
                            if case .a(let address) = $0.data { "\(address)" } else { nil }
                        }
                        #expect(addresses.count == 3)
                        if let first = addresses.first { firsts[name, default: []].insert(first) }
                    }
                }
                for name in names {
                    #expect(
                        firsts[name]?.count == 3,
                        "\(name) over \(tcp ? "TCP" : "UDP") led with only \(firsts[name] ?? [])")
                }
            }
        }
    }

    /// RFC 3225: a query with DO set gets DO set in the answer's OPT record.
    @Test func theDOBitIsEchoedOverUDPAndTCP() async throws {
        let lab = try await DNSLab()
        try await using(lab) { lab throws in
            for transport in ["+notcp", "+tcp"] {
                let signed = try lab.dig([transport, "+dnssec", "pool01.contoso.com", "A"])
                #expect(signed.contains("; EDNS: version: 0, flags: do;"), "\(signed)")
                let plain = try lab.dig([transport, "pool01.contoso.com", "A"])
                #expect(plain.contains("; EDNS: version: 0, flags:;"), "\(plain)")
            }
        }
    }

    @Test func negativeAnswersAndRefusals() async throws {
        let lab = try await DNSLab()
        try await using(lab) { lab throws in
            let nx = try lab.dig(["nope.contoso.com", "A"])
            #expect(
                nx.contains("status: NXDOMAIN") && nx.contains("flags: qr aa;") && nx.contains("AUTHORITY: 1"), "\(nx)")
            #expect(nx.contains("IN\tSOA\tns1.contoso.com. hostmaster.contoso.com."), "\(nx)")
            let nodata = try lab.dig(["mail.contoso.com", "AAAA"])
            #expect(
                nodata.contains("status: NOERROR") && nodata.contains("ANSWER: 0") && nodata.contains("AUTHORITY: 1"))
            let unknown = try lab.dig(["mail.contoso.com", "TYPE65000"])
            #expect(unknown.contains("status: NOERROR") && unknown.contains("ANSWER: 0"))
            let refused = try lab.dig(["www.example.net", "A"])
            #expect(refused.contains("status: REFUSED") && !refused.contains(" aa"), "\(refused)")
            let any = try lab.dig(["contoso.com", "ANY"])
            #expect(any.contains("status: NOERROR"))
            let axfr = try lab.dig(["contoso.com", "AXFR"])
            #expect(axfr.contains("Transfer failed"), "only secondaries may transfer: \(axfr)")
        }
    }

    @Test func largeAnswersAreTruncatedOverUDPAndWholeOverTCP() async throws {
        let lab = try await DNSLab()
        try await using(lab) { lab throws in
            let truncated = try lab.dig(["+ignore", "+noedns", "many.contoso.com", "A"])
            #expect(truncated.contains("flags: qr aa tc;"), "\(truncated)")
            #expect(try lab.short("many.contoso.com").count == 60, "dig retries over TCP")
            #expect(try lab.short("many.contoso.com", "A", ["+tcp"]).count == 60)
            // Several queries on one TCP connection.
            let several = try lab.dig(["+tcp", "+keepopen", "+short", "mail.contoso.com", "A", "ns1.contoso.com", "A"])
            #expect(several.split(separator: "\n") == ["10.0.0.25", "127.0.0.53"])
        }
    }

    @Test func answersFollowAServerDyingAndComingBack() async throws {
        let lab = try await DNSLab()
        try await using(lab) { lab throws in
            #expect(await eventually(timeout: .seconds(5)) { (try? lab.short("pool01.contoso.com").count) == 3 })
            let serial = try lab.short("contoso.com", "SOA").first?.split(separator: " ")[2]
            let dead = lab.backends[1]
            await dead.stop()
            let start = ContinuousClock.now
            #expect(
                await eventually(timeout: .seconds(3)) {
                    (try? lab.short("pool01.contoso.com")) == ["127.0.0.31", "127.0.0.33"]
                })
            // interval x fall is 400 ms; probes and the view follow within a second.
            #expect(ContinuousClock.now - start < .seconds(2))
            #expect(try lab.short("contoso.com", "SOA").first?.split(separator: " ")[2] != serial)
            for backend in lab.backends where backend !== dead { await backend.stop() }
            #expect(
                await eventually(timeout: .seconds(3)) {
                    (try? lab.short("_sip._tls.contoso.com", "SRV")) == ["10 10 5061 pool02.contoso.com."]
                })
            _ = try await TestBackend.start(name: "fe2", host: "127.0.0.32", port: dead.port, group: lab.group)
            #expect(await eventually(timeout: .seconds(3)) { (try? lab.short("pool01.contoso.com")) == ["127.0.0.32"] })
        }
    }

    @Test func malformedPacketsGetFormerrOrSilenceAndTheServerGoesOn() async throws {
        let lab = try await DNSLab()
        try await using(lab) { lab throws in
            let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
            defer { close(fd) }
            var timeout = timeval(tv_sec: 0, tv_usec: 300_000)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(lab.port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            func send(_ bytes: [UInt8]) {
                _ = withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        sendto(fd, bytes, bytes.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                    }
                }
            }
            func exchange(_ bytes: [UInt8]) -> [UInt8]? {
                send(bytes)
                var reply = [UInt8](repeating: 0, count: 4096)
                let count = recv(fd, &reply, reply.count, 0)
                return count > 0 ? Array(reply.prefix(count)) : nil
            }
            // A whole header with a question that runs off the end: FORMERR with the same ID.
            let formerr = try #require(exchange([0x12, 0x34, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0, 5, 0x61]))
            #expect(formerr[0] == 0x12 && formerr[1] == 0x34 && formerr[3] & 0xF == 1)
            // Less than a header: silence.
            #expect(exchange([1, 2, 3]) == nil)
            var generator = SystemRandomNumberGenerator()
            for _ in 0..<2000 {
                send(
                    (0..<Int.random(in: 0...100, using: &generator)).map { _ in
                        UInt8.random(in: 0...255, using: &generator)
                    })
            }
            #expect(try lab.short("mail.contoso.com") == ["10.0.0.25"])
        }
    }
}

extension DNSLab: TestResource {
    func tearDown() async { await shutdown() }
}
