import BallastCore
import BallastTLS
import BallastTestSupport
import Foundation
import Testing

/// The terminating side against a real client (openssl s_client): certificates by SNI, ALPN,
/// tickets and their keys' rotation, and the errors a bad certificate file gets.
@Suite struct TLSServerContextTests {
    /// Writes each certificate set's chain, key and CA into a fresh folder.
    struct Files {
        let directory: URL
        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

        init(_ sets: [String: TestCertificates]) throws {
            directory = try BallastProcess.makeDirectory()
            for (name, set) in sets {
                try set.certificatePEM.write(toFile: path("\(name).pem"), atomically: true, encoding: .utf8)
                try set.keyPEM.write(toFile: path("\(name).key"), atomically: true, encoding: .utf8)
                try set.caPEM.write(toFile: path("\(name)-ca.pem"), atomically: true, encoding: .utf8)
            }
        }

        func certificate(_ name: String) -> HTTPSettings.Certificate {
            HTTPSettings.Certificate(certificateFile: path("\(name).pem"), keyFile: path("\(name).key"))
        }
    }

    /// Runs openssl s_client against `port` with `arguments`, sending one line; its whole output.
    static func client(port: Int, _ arguments: String) throws -> String {
        let command =
            "printf 'hello\\n' | timeout 10 openssl s_client -connect 127.0.0.1:\(port) -ign_eof \(arguments) 2>&1"
        return try BallastProcess.run(
            executable: URL(fileURLWithPath: "/bin/bash"), ["-c", command], timeout: .seconds(15)
        )
        .stdout
    }

    /// A default certificate, one for `*.wild.test` and one for `api.wild.test`, in that order.
    static func namedCertificates(alpn: [String]) throws -> (Files, TLSServerContext) {
        let files = try Files([
            "default": try TestCertificates(names: ["localhost"]),
            "wildcard": try TestCertificates(names: ["*.wild.test"], loopbackSAN: false),
            "exact": try TestCertificates(names: ["api.wild.test"], loopbackSAN: false),
        ])
        let context = try TLSServerContext(
            certificates: [files.certificate("default"), files.certificate("wildcard"), files.certificate("exact")],
            alpn: alpn)
        return (files, context)
    }

    @Test func theCertificateIsChosenBySNIExactNamesBeforeWildcards() throws {
        let (files, context) = try Self.namedCertificates(alpn: ["http/1.1"])
        defer { try? FileManager.default.removeItem(at: files.directory) }
        let cases: [(sni: String?, served: String)] = [
            ("api.wild.test", "exact"), ("www.wild.test", "wildcard"), ("API.WILD.TEST", "exact"),
            ("a.b.wild.test", "default"), ("elsewhere.test", "default"), (nil, "default"),
        ]
        let server = try TLSTestServer(context: context, count: cases.count)
        defer { server.stop() }
        for (sni, served) in cases {
            let name = sni.map { "-servername \($0)" } ?? "-noservername"
            let output = try Self.client(
                port: server.port, "\(name) -CAfile \(files.path("\(served)-ca.pem")) -verify_return_error")
            #expect(
                output.contains("Verify return code: 0 (ok)"),
                "\(sni ?? "no SNI") should get the \(served) certificate: \(output)")
            #expect(output.contains("name=\(sni ?? "-")"), "\(output)")
        }
    }

    @Test(arguments: ["-tls1_3", "-tls1_2"])
    func ticketsResumeUntilTheirKeyIsThreeRotationsOld(version: String) throws {
        let files = try Files(["server": try TestCertificates()])
        defer { try? FileManager.default.removeItem(at: files.directory) }
        let context = try TLSServerContext(certificates: [files.certificate("server")], alpn: ["http/1.1"])
        let server = try TLSTestServer(context: context, count: 4)
        defer { server.stop() }
        let session = files.path("session.pem")
        let first = try Self.client(port: server.port, "\(version) -sess_out \(session)")
        #expect(first.contains("New, TLSv1") && first.contains("resumed=false"), "\(first)")
        let again = try Self.client(port: server.port, "\(version) -sess_in \(session)")
        #expect(again.contains("Reused, TLSv1") && again.contains("resumed=true"), "\(again)")
        // A rotation keeps the previous key for decryption.
        context.rotateTicketKeys()
        let afterOne = try Self.client(port: server.port, "\(version) -sess_in \(session)")
        #expect(afterOne.contains("Reused, TLSv1"), "\(afterOne)")
        // Three rotations later the ticket's key is gone: a full handshake.
        context.rotateTicketKeys()
        context.rotateTicketKeys()
        let afterThree = try Self.client(port: server.port, "\(version) -sess_in \(session)")
        #expect(afterThree.contains("New, TLSv1") && afterThree.contains("resumed=false"), "\(afterThree)")
    }

    @Test func alpnFollowsTheServersPreferenceAndIsOptional() throws {
        let files = try Files(["server": try TestCertificates()])
        defer { try? FileManager.default.removeItem(at: files.directory) }
        let context = try TLSServerContext(certificates: [files.certificate("server")], alpn: ["h2", "http/1.1"])
        let offers = [("http/1.1,h2", "alpn=h2"), ("http/1.1", "alpn=http/1.1"), ("spdy/3", "alpn=-")]
        let server = try TLSTestServer(context: context, count: offers.count)
        defer { server.stop() }
        for (offer, chosen) in offers {
            let output = try Self.client(port: server.port, "-alpn \(offer)")
            #expect(output.contains(chosen), "offered \(offer): \(output)")
        }
    }

    @Test func unreadableFilesAndMismatchedKeysAreNamed() throws {
        let files = try Files(["one": try TestCertificates(), "two": try TestCertificates()])
        defer { try? FileManager.default.removeItem(at: files.directory) }
        let missing = HTTPSettings.Certificate(
            certificateFile: files.path("absent.pem"), keyFile: files.path("one.key"))
        #expect {
            try TLSServerContext(certificates: [missing], alpn: [])
        } throws: { error in
            "\(error)".contains("absent.pem") && "\(error)".contains("PEM file")
        }
        let crossed = HTTPSettings.Certificate(certificateFile: files.path("one.pem"), keyFile: files.path("two.key"))
        #expect {
            try TLSServerContext(certificates: [crossed], alpn: [])
        } throws: { error in
            "\(error)".contains("two.key") && "\(error)".contains("does not match")
        }
        #expect(throws: TLSError.self) { try TLSServerContext(certificates: [], alpn: []) }
    }
}
