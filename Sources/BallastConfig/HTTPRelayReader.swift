import BallastCore
import Foundation
import Yams

/// The parts of a relay that only `http` and `https` relays take.
extension TopologyBuilder {
    static let routeByUserForm = "basic, or {header: X-Authenticated-User}"

    /// Reads the HTTP keys (and a mail relay's certificates) of the relay in `fields`, which
    /// speaks `relayProtocol`, into `http`; keys that do not apply to it were refused already.
    mutating func readHTTPSettings(
        _ fields: inout Fields, protocol relayProtocol: RelayProtocol, into http: inout HTTPSettings
    ) {
        if let node = fields[HTTPRelayKeys.certificates],
            HTTPRelayKeys.certificates.declaration.applies(
                to: relayProtocol.rawValue)
        {
            if let list = reader.sequence(
                node, key: fields.path(HTTPRelayKeys.certificates),
                what: HTTPRelayKeys.certificates.declaration.expected)
            {
                for (index, item) in list.enumerated() {
                    if let certificate = readCertificate(
                        item, key: "\(fields.path(HTTPRelayKeys.certificates))[\(index)]")
                    {
                        http.certificates.append(certificate)
                    } else {
                        fields.failed = true
                    }
                }
            } else {
                fields.failed = true
            }
        }
        if relayProtocol == .https || relayProtocol.isImplicitTLS, http.certificates.isEmpty, !fields.failed {
            reader.fail(
                .missingKey, at: fields[RelayKeys.listen], key: fields.path(HTTPRelayKeys.certificates), "is missing",
                expected:
                    "certificates: [{certificate: server.pem, key: server.key}] for an \(relayProtocol.rawValue) relay")
            fields.failed = true
        }
        guard relayProtocol.isHTTP else { return }
        if let node = fields[HTTPRelayKeys.serverTLS] {
            if let tls = readServerTLS(node, key: fields.path(HTTPRelayKeys.serverTLS)) {
                http.serverTLS = tls
            } else {
                fields.failed = true
            }
        }
        if let node = fields[HTTPRelayKeys.forwarded] {
            if var forwarded = reader.fields(
                node, key: fields.path(HTTPRelayKeys.forwarded), section: ForwardedKeys.section)
            {
                if let policy = reader.read(ForwardedKeys.xForwardedFor, in: &forwarded) { http.xForwardedFor = policy }
                if let policy = reader.read(ForwardedKeys.xForwardedProto, in: &forwarded) {
                    http.xForwardedProto = policy
                }
                if let policy = reader.read(ForwardedKeys.forwarded, in: &forwarded) { http.forwarded = policy }
                if forwarded.failed { fields.failed = true }
            } else {
                fields.failed = true
            }
        }
        if let node = fields[HTTPRelayKeys.routeByUser] {
            let key = fields.path(HTTPRelayKeys.routeByUser)
            if node.scalar?.string == "basic" {
                http.userRouting = .basic
            } else if case .mapping = node,
                var routing = reader.fields(node, key: key, section: UserRoutingKeys.section)
            {
                if let name = reader.require(UserRoutingKeys.header, in: &routing) {
                    http.userRouting = .header(name)
                } else {
                    fields.failed = true
                }
            } else {
                reader.fail(
                    .invalidValue, at: node, key: key, "is not a way to learn the user", expected: Self.routeByUserForm)
                fields.failed = true
            }
        }
        if let value = reader.read(HTTPRelayKeys.maxHeaderSize, in: &fields) { http.maxHeaderBytes = value }
        if let node = fields[HTTPRelayKeys.engine] {
            // HTTP relays run on Ballast's engine; the key stays so that configs naming it load.
            switch node.scalar?.string {
            case "ballast":
                break
            case "nio":
                reader.fail(
                    .invalidValue, at: node, key: fields.path(HTTPRelayKeys.engine),
                    "names the SwiftNIO HTTP relay, which Ballast's engine replaced (docs/decisions/0003-data-plane-engine.md); remove the key",
                    expected: "ballast")
                fields.failed = true
            default:
                reader.fail(
                    .invalidValue, at: node, key: fields.path(HTTPRelayKeys.engine), "is not a data plane",
                    expected: "ballast")
                fields.failed = true
            }
        }
    }

    /// Reads the `timeouts` an HTTP relay takes from the relay's `timeouts` mapping.
    mutating func readHTTPTimeouts(_ timeouts: inout Fields, into http: inout HTTPSettings) {
        if let value = reader.read(HTTPRelayKeys.requestTimeout, in: &timeouts) { http.timeouts.request = value }
        if let value = reader.read(HTTPRelayKeys.serverTimeout, in: &timeouts) { http.timeouts.server = value }
        if let value = reader.read(HTTPRelayKeys.serverIdleTimeout, in: &timeouts) { http.timeouts.serverIdle = value }
        if let value = reader.read(HTTPRelayKeys.keepAliveTimeout, in: &timeouts) { http.timeouts.keepAlive = value }
    }

    mutating func readCertificate(_ node: YAMLNode, key: String) -> HTTPSettings.Certificate? {
        guard var fields = reader.fields(node, key: key, section: CertificateKeys.section) else { return nil }
        var files: [String] = []
        for file in [CertificateKeys.certificate, CertificateKeys.key] {
            guard let path = reader.require(file, in: &fields) else { continue }
            let resolved = resolve(path)
            guard FileManager.default.isReadableFile(atPath: resolved) else {
                reader.fail(
                    .invalidValue, at: fields[file], key: fields.path(file), "\(resolved) cannot be read",
                    expected: "a readable PEM file (relative paths start at the config file's folder)")
                fields.failed = true
                continue
            }
            files.append(resolved)
        }
        guard !fields.failed, files.count == 2 else { return nil }
        return HTTPSettings.Certificate(certificateFile: files[0], keyFile: files[1])
    }

    private mutating func readServerTLS(_ node: YAMLNode, key: String) -> HTTPSettings.ServerTLS? {
        if case .scalar = node {
            guard let on = reader.bool(node, key: key) else { return nil }
            return on ? HTTPSettings.ServerTLS(verify: true) : nil
        }
        guard var fields = reader.fields(node, key: key, section: ServerTLSKeys.section) else { return nil }
        var tls = HTTPSettings.ServerTLS(verify: true)
        if let value = reader.read(ServerTLSKeys.verify, in: &fields) { tls.verify = value }
        if let path = reader.read(ServerTLSKeys.caFile, in: &fields) {
            let resolved = resolve(path)
            if FileManager.default.isReadableFile(atPath: resolved) {
                tls.caFile = resolved
            } else {
                reader.refuse(
                    ServerTLSKeys.caFile, in: &fields, "\(resolved) cannot be read",
                    expected: "a readable PEM bundle of CA certificates")
            }
        }
        if let name = reader.read(ServerTLSKeys.serverName, in: &fields) { tls.serverName = name }
        return fields.failed ? nil : tls
    }

    /// Reads `persistence: {type: cookie, ...}`.
    mutating func readCookie(_ fields: inout Fields) -> CookiePersistence? {
        guard
            let secret = reader.require(
                CookieKeys.key, in: &fields, expected: "a secret of at least 16 characters to sign the cookie with")
        else { return nil }
        guard secret.count >= 16 else {
            reader.fail(
                .invalidValue, at: fields[CookieKeys.key], key: fields.path(CookieKeys.key),
                "is too short to sign with",
                expected: "a secret of at least 16 characters")
            return nil
        }
        var cookie = CookiePersistence(key: secret)
        if let value = reader.read(CookieKeys.name, in: &fields) {
            if CookiePersistence.isValidName(value) {
                cookie.name = value
            } else {
                reader.refuse(CookieKeys.name, in: &fields, "is not a cookie name", expected: "letters, digits and -_.")
            }
        }
        if let value = reader.read(CookieKeys.secure, in: &fields) { cookie.secure = value }
        if let value = reader.read(CookieKeys.httpOnly, in: &fields) { cookie.httpOnly = value }
        if let node = fields[CookieKeys.sameSite] {
            if case .scalar(let scalar) = node,
                let value = CookiePersistence.SameSite.allCases.first(where: {
                    $0.rawValue.lowercased() == scalar.string.lowercased()
                })
            {
                cookie.sameSite = value
            } else {
                reader.fail(
                    .invalidValue, at: node, key: fields.path(CookieKeys.sameSite), "is \(reader.describe(node))",
                    expected: CookieKeys.sameSite.declaration.expected)
                fields.failed = true
            }
        }
        if let value = reader.read(CookieKeys.path, in: &fields) {
            if value.hasPrefix("/"), !value.contains(";") {
                cookie.path = value
            } else {
                reader.refuse(
                    CookieKeys.path, in: &fields, "is not a cookie path",
                    expected: "a path starting with / and without ;")
            }
        }
        return fields.failed ? nil : cookie
    }

    /// A path from the config, relative to the config file's folder.
    func resolve(_ path: String) -> String {
        guard !path.hasPrefix("/") else { return path }
        let folder = (reader.file as NSString).deletingLastPathComponent
        return folder.isEmpty ? path : (folder as NSString).appendingPathComponent(path)
    }
}
