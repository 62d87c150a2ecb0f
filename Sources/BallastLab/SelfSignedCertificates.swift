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
        let authority = try Authority(validFor: 86400)
        let leaf = try authority.issue(names: names, loopbackSAN: loopbackSAN)
        caPEM = authority.pem
        (certificatePEM, keyPEM) = (leaf.certificatePEM, leaf.keyPEM)
    }

    /// The certificates the example configs name, written into `folder`: `ca.pem`, `webext.pem`
    /// and `webext.key` (web and mail relays), `sip.pem` and `sip.key` (SIP registrars), all
    /// from one throwaway CA and valid for `days`. Returns the files written.
    @discardableResult
    public static func writeExamples(into folder: String, days: Int = 365) throws -> [String] {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let authority = try Authority(validFor: TimeInterval(days) * 86400)
        let web = try authority.issue(
            names: ["webext.contoso.com", "mail.contoso.com", "pool01.contoso.com", "pool02.contoso.com", "localhost"],
            loopbackSAN: true)
        let sip = try authority.issue(
            names: ["pool01.contoso.com", "pool02.contoso.com", "sip.contoso.com", "localhost"], loopbackSAN: true)
        var written: [String] = []
        func put(_ text: String, _ name: String, secret: Bool = false) throws {
            let path = "\(folder)/\(name)"
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            if secret { try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path) }
            written.append(path)
        }
        try put(authority.pem, "ca.pem")
        try put(web.certificatePEM, "webext.pem")
        try put(web.keyPEM, "webext.key", secret: true)
        try put(sip.certificatePEM, "sip.pem")
        try put(sip.keyPEM, "sip.key", secret: true)
        return written
    }

    /// A throwaway CA that signs server certificates.
    private struct Authority {
        let key = P256.Signing.PrivateKey()
        let name: DistinguishedName
        let certificate: Certificate
        let validity: TimeInterval
        let start = Date()

        init(validFor validity: TimeInterval) throws {
            self.validity = validity
            name = try DistinguishedName { CommonName("Ballast Lab CA") }
            certificate = try Certificate(
                version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
                notValidBefore: start - 3600, notValidAfter: start + validity, issuer: name, subject: name,
                signatureAlgorithm: .ecdsaWithSHA256,
                extensions: try Certificate.Extensions {
                    Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                    Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                },
                issuerPrivateKey: .init(key))
        }

        var pem: String { (try? certificate.serializeAsPEM().pemString) ?? "" }

        func issue(names: [String], loopbackSAN: Bool) throws -> (certificatePEM: String, keyPEM: String) {
            let leafKey = P256.Signing.PrivateKey()
            let subject = try DistinguishedName { CommonName(names.first ?? "localhost") }
            var sans = names.map { GeneralName.dnsName($0) }
            if loopbackSAN { sans.append(.ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1]))) }
            let leaf = try Certificate(
                version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(leafKey.publicKey),
                notValidBefore: start - 3600, notValidAfter: start + validity, issuer: name, subject: subject,
                signatureAlgorithm: .ecdsaWithSHA256,
                extensions: try Certificate.Extensions {
                    Critical(BasicConstraints.notCertificateAuthority)
                    SubjectAlternativeNames(sans)
                    try ExtendedKeyUsage([.serverAuth])
                },
                issuerPrivateKey: .init(key))
            return (try leaf.serializeAsPEM().pemString, leafKey.pemRepresentation)
        }
    }

    /// Writes `ca.pem`, `server.pem` and `server.key` (mode 0600) into `folder`.
    public func write(into folder: String) throws {
        try caPEM.write(toFile: "\(folder)/ca.pem", atomically: true, encoding: .utf8)
        try certificatePEM.write(toFile: "\(folder)/server.pem", atomically: true, encoding: .utf8)
        try keyPEM.write(toFile: "\(folder)/server.key", atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: "\(folder)/server.key")
    }
}
