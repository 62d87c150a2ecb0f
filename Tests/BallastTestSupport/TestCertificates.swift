import Crypto
public import Foundation
public import NIOSSL
import SwiftASN1
import X509

/// A throwaway CA and server certificates for TLS tests, made with swift-certificates.
public struct TestCertificates: Sendable {
    /// The CA certificate, PEM.
    public let caPEM: String
    /// The server certificate, PEM.
    public let certificatePEM: String
    /// The server key, PEM.
    public let keyPEM: String

    /// A CA and a server certificate for `names` (DNS names), and 127.0.0.1 when `loopbackSAN`.
    /// NIOSSL accepts a certificate whose IP SAN matches the peer whatever name was asked
    /// for, so tests of name verification leave the IP out.
    public init(names: [String] = ["localhost"], loopbackSAN: Bool = true) throws {
        let caKey = P256.Signing.PrivateKey()
        let caName = try DistinguishedName { CommonName("Ballast Test CA") }
        let now = Date()
        let ca = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(caKey.publicKey),
            notValidBefore: now - 3600, notValidAfter: now + 86400, issuer: caName, subject: caName,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            },
            issuerPrivateKey: .init(caKey))
        let key = P256.Signing.PrivateKey()
        let subject = try DistinguishedName { CommonName(names.first ?? "localhost") }
        var sans = names.map { GeneralName.dnsName($0) }
        if loopbackSAN { sans.append(.ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1]))) }
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
            notValidBefore: now - 3600, notValidAfter: now + 86400, issuer: caName, subject: subject,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                SubjectAlternativeNames(sans)
                try ExtendedKeyUsage([.serverAuth])
            },
            issuerPrivateKey: .init(caKey))
        caPEM = try ca.serializeAsPEM().pemString
        certificatePEM = try certificate.serializeAsPEM().pemString
        keyPEM = key.pemRepresentation
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
