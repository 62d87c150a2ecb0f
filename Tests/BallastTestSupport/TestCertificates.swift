import BallastLab
public import Foundation
public import NIOSSL

/// A throwaway CA and server certificates for TLS tests (the lab's, made with swift-certificates).
public struct TestCertificates: Sendable {
    /// The CA certificate, PEM.
    public var caPEM: String { certificates.caPEM }
    /// The server certificate, PEM.
    public var certificatePEM: String { certificates.certificatePEM }
    /// The server key, PEM.
    public var keyPEM: String { certificates.keyPEM }
    private let certificates: SelfSignedCertificates

    /// A CA and a server certificate for `names` (DNS names), and 127.0.0.1 when `loopbackSAN`.
    /// NIOSSL accepts a certificate whose IP SAN matches the peer whatever name was asked
    /// for, so tests of name verification leave the IP out.
    public init(names: [String] = ["localhost"], loopbackSAN: Bool = true) throws {
        certificates = try SelfSignedCertificates(names: names, loopbackSAN: loopbackSAN)
    }
    /// A TLS server context with the server certificate.
    public func serverContext() throws -> NIOSSLContext {
        let configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: [.certificate(try NIOSSLCertificate(bytes: Array(certificatePEM.utf8), format: .pem))],
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem)))
        return try NIOSSLContext(configuration: configuration)
    }

    /// Writes the CA to a file and returns its path.
    public func writeCA(in directory: URL) throws -> String {
        let url = directory.appendingPathComponent("ca.pem")
        try caPEM.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }
}
