import Crypto
import Foundation
import SwiftASN1
import X509

/// A throwaway CA and a server certificate signed by it, made with swift-certificates: for the
/// demo lab's TLS listeners and for tests.
public struct SelfSignedCertificates: Sendable {
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
        let caName = try DistinguishedName { CommonName("Ballast Lab CA") }
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

    /// Writes `ca.pem`, `server.pem` and `server.key` (mode 0600) into `folder`.
    public func write(into folder: String) throws {
        try caPEM.write(toFile: "\(folder)/ca.pem", atomically: true, encoding: .utf8)
        try certificatePEM.write(toFile: "\(folder)/server.pem", atomically: true, encoding: .utf8)
        try keyPEM.write(toFile: "\(folder)/server.key", atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: "\(folder)/server.key")
    }
}
