import BallastCore
import BallastHealthChecks
import BallastLab
import BallastTestSupport
import Foundation
import NIOCore
import NIOPosix
import Testing

@Suite(.tags(.timed)) struct ProbeTests {
    let loop = MultiThreadedEventLoopGroup.singleton.next()

    func probe(_ port: Int, _ kind: Check.Kind, timeout: Duration = .milliseconds(500)) async throws -> ProbeResult {
        let check = Check(kind: kind, interval: .seconds(1), timeout: timeout)
        let target = try ProbeTarget(endpoint: Endpoint(address: IPAddress(v4: 127, 0, 0, 1), port: port), check: check)
        return try await target.run(on: loop).get()
    }

    @Test func tcpPassesWhenSomethingListens() async throws {
        let backend = try await TestBackend.start(name: "a")
        try await using(backend) { backend throws in
            guard case .passed = try await probe(backend.port, .tcp) else {
                Issue.record("tcp probe failed against a live server")
                return
            }
        }
    }

    @Test func tcpFailsWithConnectionRefused() async throws {
        #expect(try await probe(Ports.free(), .tcp) == .failed("connection refused"))
    }

    @Test func tlsHandshake() async throws {
        let certificates = try TestCertificates()
        let backend = try await TestBackend.start(name: "tls", behaviour: .silent, tls: certificates.serverContext())
        let plain = try await TestBackend.start(name: "plain", behaviour: .silent)
        try await using([backend, plain]) { _ throws in
            guard case .passed(let detail) = try await probe(backend.port, .tls(.init())) else {
                Issue.record("TLS probe failed against a TLS server")
                return
            }
            #expect(detail.contains("TLS handshake completed"))
            guard case .failed = try await probe(plain.port, .tls(.init())) else {
                Issue.record("TLS probe passed against a server that speaks no TLS")
                return
            }
        }
    }

    @Test func tlsVerificationAgainstACABundle() async throws {
        let certificates = try TestCertificates(names: ["cas.example.com"], loopbackSAN: false)
        let stranger = try TestCertificates(names: ["cas.example.com"], loopbackSAN: false)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ballast-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let goodCA = try certificates.writeCA(in: directory)
        let otherDirectory = directory.appendingPathComponent("other")
        try FileManager.default.createDirectory(at: otherDirectory, withIntermediateDirectories: true)
        let wrongCA = try stranger.writeCA(in: otherDirectory)
        let backend = try await TestBackend.start(name: "tls", behaviour: .silent, tls: certificates.serverContext())
        try await using(backend) { backend throws in

            let trusted = Check.TLSProbe(verify: true, caFile: goodCA, serverName: "cas.example.com")
            guard case .passed = try await probe(backend.port, .tls(trusted)) else {
                Issue.record("verification failed with the right CA and name")
                return
            }
            let untrusted = Check.TLSProbe(verify: true, caFile: wrongCA, serverName: "cas.example.com")
            guard case .failed(let reason) = try await probe(backend.port, .tls(untrusted)) else {
                Issue.record("a certificate from another CA was accepted")
                return
            }
            #expect(reason.hasPrefix("TLS"))
            let wrongName = Check.TLSProbe(verify: true, caFile: goodCA, serverName: "other.example.com")
            guard case .failed = try await probe(backend.port, .tls(wrongName)) else {
                Issue.record("a certificate for another name was accepted")
                return
            }
        }
    }

    @Test func httpStatus() async throws {
        let ok = try await TestBackend.start(name: "ok", behaviour: .http(status: 200, body: "all good"))
        let broken = try await TestBackend.start(name: "broken", behaviour: .http(status: 503, body: "maintenance"))
        try await using([ok, broken]) { _ throws in
            #expect(try await probe(ok.port, .http(.init(path: "/healthz"), tls: nil)) == .passed("HTTP status 200"))
            #expect(
                try await probe(broken.port, .http(.init(), tls: nil)) == .failed("HTTP status 503, expected 200-399"))
            #expect(
                try await probe(broken.port, .http(.init(expectStatus: 503...503), tls: nil))
                    == .passed("HTTP status 503"))
        }
    }

    @Test func httpBodyMatch() async throws {
        let backend = try await TestBackend.start(name: "ok", behaviour: .http(status: 200, body: "status: degraded"))
        try await using(backend) { backend throws in
            #expect(
                try await probe(backend.port, .http(.init(expectBody: "degraded"), tls: nil))
                    == .passed("HTTP status 200"))
            #expect(
                try await probe(backend.port, .http(.init(expectBody: "healthy"), tls: nil))
                    == .failed("HTTP status 200 but the body lacks \"healthy\""))
        }
    }

    @Test func httpsWithReencryption() async throws {
        let certificates = try TestCertificates()
        let backend = try await TestBackend.start(
            name: "tls", behaviour: .http(status: 204, body: ""), tls: certificates.serverContext())
        try await using(backend) { backend throws in
            #expect(try await probe(backend.port, .http(.init(), tls: .init())) == .passed("HTTP status 204"))
        }
    }

    @Test func aServerThatNeverAnswersTimesOut() async throws {
        let backend = try await TestBackend.start(name: "silent", behaviour: .silent)
        try await using(backend) { backend throws in
            let started = ContinuousClock.now
            #expect(
                try await probe(backend.port, .http(.init(), tls: nil), timeout: .milliseconds(200))
                    == .failed("timed out after 0.2 seconds"))
            #expect(ContinuousClock.now - started < .seconds(2))
        }
    }

    @Test func notHTTPAtAll() async throws {
        let backend = try await TestBackend.start(name: "echo", behaviour: .identify)
        try await using(backend) { backend throws in
            guard case .failed = try await probe(backend.port, .http(.init(), tls: nil)) else {
                Issue.record("a server that is not HTTP passed an HTTP check")
                return
            }
        }
    }

    @Test func sipOptionsOverUDPAndTCPJudgesTheStatus() async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let server = try await TestSIPServer.start(group: group)
        try await using(server) { server throws in
            for transport in [SIPSettings.Transport.udp, .tcp] {
                #expect(
                    try await probe(server.port, .sipOptions(.init(transport: transport)))
                        == .passed("SIP OPTIONS answered 200"))
                #expect(
                    try await probe(server.port, .sipOptions(.init(transport: transport, expectStatus: 300...399)))
                        == .failed("SIP OPTIONS answered 200, expected 300-399"))
            }
        }
    }

    @Test func sipOptionsFailsFastWhenNothingListensAndTimesOutOnSilence() async throws {
        guard case .failed(let refused) = try await probe(Ports.free(), .sipOptions(.init())) else {
            Issue.record("a SIP probe passed with nothing listening")
            return
        }
        #expect(refused.contains("refused") || refused.contains("no SIP answer"))
        let silent = try await TestBackend.start(name: "silent", behaviour: .silent)
        try await using(silent) { silent throws in
            #expect(
                try await probe(silent.port, .sipOptions(.init(transport: .tcp)), timeout: .milliseconds(200))
                    == .failed("no SIP answer within 0.2 seconds"))
        }
    }
}
