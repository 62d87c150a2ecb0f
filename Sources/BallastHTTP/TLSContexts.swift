import BallastCore
import NIOCore
import NIOSSL
import SwiftASN1
import X509

/// The TLS contexts of one HTTP relay, loaded from the files its config names.
///
/// Built anew at every reload, so that renewed certificate files are picked up by SIGHUP.
struct TLSContexts: Sendable {
    /// Terminates clients' TLS (https relays), choosing the certificate by SNI.
    let termination: NIOSSLContext?
    /// Re-encrypts towards servers, when the relay has `server-tls`.
    let reencryption: NIOSSLContext?

    init(relay: Relay) throws(HTTPRelayError) {
        termination = relay.protocol == .https ? try Self.termination(relay) : nil
        reencryption = try relay.http.serverTLS.map { tls throws(HTTPRelayError) in try Self.reencryption(relay, tls) }
    }

    private static func termination(_ relay: Relay) throws(HTTPRelayError) -> NIOSSLContext {
        guard !relay.http.certificates.isEmpty else {
            throw HTTPRelayError.tls(relay: relay.name, "an https relay needs at least one certificate")
        }
        var loaded: [CertificateSelector.Entry] = []
        for file in relay.http.certificates {
            do {
                let chain = try NIOSSLCertificate.fromPEMFile(file.certificateFile)
                guard let leaf = chain.first else {
                    throw HTTPRelayError.tls(relay: relay.name, "\(file.certificateFile) holds no certificate")
                }
                let key = try NIOSSLPrivateKey(file: file.keyFile, format: .pem)
                let names = try Self.names(of: leaf)
                loaded.append(
                    CertificateSelector.Entry(
                        names: names, chain: chain.map { .certificate($0) }, key: .privateKey(key)))
            } catch let error as HTTPRelayError {
                throw error
            } catch {
                throw HTTPRelayError.tls(
                    relay: relay.name,
                    "cannot load \(file.certificateFile) with key \(file.keyFile): \(error); give PEM files readable by Ballast"
                )
            }
        }
        let selector = CertificateSelector(entries: loaded)
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: loaded[0].chain, privateKey: loaded[0].key)
        configuration.minimumTLSVersion = .tlsv12
        configuration.applicationProtocols = ["h2", "http/1.1"]
        if loaded.count > 1 {
            configuration.sslContextCallback = { values, promise in
                var change = NIOSSLContextConfigurationOverride()
                if let entry = selector.entry(for: values.serverHostname) {
                    change.certificateChain = entry.chain
                    change.privateKey = entry.key
                }
                promise.succeed(change)
            }
        }
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw HTTPRelayError.tls(relay: relay.name, "cannot build the TLS context: \(error)")
        }
    }

    private static func reencryption(_ relay: Relay, _ tls: HTTPSettings.ServerTLS) throws(HTTPRelayError)
        -> NIOSSLContext
    {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.applicationProtocols = ["http/1.1"]
        configuration.minimumTLSVersion = .tlsv12
        if tls.verify {
            configuration.certificateVerification = .fullVerification
            if let caFile = tls.caFile { configuration.trustRoots = .file(caFile) }
        } else {
            configuration.certificateVerification = .none
        }
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw HTTPRelayError.tls(
                relay: relay.name, "cannot build the TLS context towards servers: \(error); check server-tls.ca")
        }
    }

    /// DNS names a certificate serves: its subject alternative names, else its common name.
    private static func names(of certificate: NIOSSLCertificate) throws -> [String] {
        let parsed = try X509.Certificate(derEncoded: try certificate.toDERBytes())
        var names: [String] = []
        if let sans = try parsed.extensions.subjectAlternativeNames {
            for name in sans { if case .dnsName(let dns) = name { names.append(dns) } }
        }
        if names.isEmpty {
            for rdn in parsed.subject {
                for attribute in rdn where attribute.type == .RDNAttributeType.commonName {
                    names.append(String(describing: attribute.value))
                }
            }
        }
        return names
    }
}

/// Picks the certificate for the name a client asked for in SNI: an exact name first, then a
/// wildcard that covers one label (`*.example.com`), else the first certificate.
struct CertificateSelector: Sendable {
    struct Entry: Sendable {
        var names: [String]
        var chain: [NIOSSLCertificateSource]
        var key: NIOSSLPrivateKeySource
    }

    let entries: [Entry]

    /// The entry for `hostname`; the first when nothing matches or no name was sent.
    func entry(for hostname: String?) -> Entry? {
        guard let index = Self.index(for: hostname, names: entries.map(\.names)) else { return entries.first }
        return entries[index]
    }

    /// Index of the name list that serves `hostname`, exact names before wildcards.
    static func index(for hostname: String?, names: [[String]]) -> Int? {
        guard let host = hostname?.lowercased(), !host.isEmpty else { return nil }
        if let exact = names.firstIndex(where: { $0.contains { $0.lowercased() == host } }) { return exact }
        guard let dot = host.firstIndex(of: ".") else { return nil }
        let parent = host[dot...]
        return names.firstIndex { list in
            list.contains { $0.hasPrefix("*.") && $0.dropFirst().lowercased() == parent }
        }
    }
}
