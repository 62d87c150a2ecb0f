import BallastCore
import Foundation
import Yams

/// The parts of a relay that only `http` and `https` relays take.
extension TopologyBuilder {
    static let httpRelayKeys = [
        "certificates", "server-tls", "forwarded", "max-header-size", "route-by-user", "engine",
    ]
    static let routeByUserForm = "basic, or {header: X-Authenticated-User}"
    static let certificateKeys = ["certificate", "key"]
    static let serverTLSKeys = ["verify", "ca-file", "server-name"]
    static let forwardedKeys = ["x-forwarded-for", "x-forwarded-proto", "forwarded"]
    static let cookieKeys = ["type", "name", "key", "secure", "http-only", "same-site", "path"]
    static let httpTimeoutKeys = ["request", "server", "server-idle", "keep-alive"]

    /// Reads the HTTP keys (and a mail relay's certificates) of relay `key`, which speaks
    /// `relayProtocol`, into `http`; false when one of them is wrong.
    mutating func readHTTPSettings(
        _ values: [String: YAMLNode], key: String, protocol relayProtocol: RelayProtocol, into http: inout HTTPSettings
    ) -> Bool {
        var ok = true
        if relayProtocol.isMail {
            for name in Self.httpRelayKeys where name != "certificates" && values[name] != nil {
                reader.fail(
                    .conflict, at: values[name], key: "\(key).\(name)", "applies only to http and https relays",
                    expected: "protocol: http or https, or no \(name)")
                ok = false
            }
            if let node = values["certificates"] {
                for (index, item)
                    in (reader.sequence(
                        node, key: "\(key).certificates", what: "a list of {certificate: FILE, key: FILE}") ?? [])
                    .enumerated()
                {
                    if let certificate = readCertificate(item, key: "\(key).certificates[\(index)]") {
                        http.certificates.append(certificate)
                    } else {
                        ok = false
                    }
                }
            }
            if relayProtocol.isImplicitTLS && http.certificates.isEmpty && ok {
                reader.fail(
                    .missingKey, at: values["listen"], key: "\(key).certificates", "is missing",
                    expected:
                        "certificates: [{certificate: server.pem, key: server.key}] for an \(relayProtocol.rawValue) relay"
                )
                ok = false
            }
            return ok
        }
        if !relayProtocol.isHTTP {
            for name in Self.httpRelayKeys where values[name] != nil {
                reader.fail(
                    .conflict, at: values[name], key: "\(key).\(name)", "applies only to http and https relays",
                    expected: "protocol: http or https, or no \(name)")
                ok = false
            }
            return ok
        }
        if let node = values["certificates"] {
            if relayProtocol != .https {
                reader.fail(
                    .conflict, at: node, key: "\(key).certificates", "applies only to https relays",
                    expected: "protocol: https, or no certificates")
                ok = false
            } else if let list = reader.sequence(
                node, key: "\(key).certificates", what: "a list of {certificate: FILE, key: FILE}")
            {
                for (index, item) in list.enumerated() {
                    if let certificate = readCertificate(item, key: "\(key).certificates[\(index)]") {
                        http.certificates.append(certificate)
                    } else {
                        ok = false
                    }
                }
            } else {
                ok = false
            }
        }
        if relayProtocol == .https && http.certificates.isEmpty && ok {
            reader.fail(
                .missingKey, at: values["listen"], key: "\(key).certificates", "is missing",
                expected: "certificates: [{certificate: server.pem, key: server.key}] for an https relay")
            ok = false
        }
        if let node = values["server-tls"] {
            if let tls = readServerTLS(node, key: "\(key).server-tls") {
                http.serverTLS = tls
            } else {
                ok = false
            }
        }
        if let node = values["forwarded"] {
            for entry in reader.mapping(node, key: "\(key).forwarded", allowed: Self.forwardedKeys, what: "a mapping")
                ?? []
            {
                guard
                    let policy = reader.choice(
                        entry.value, key: "\(key).forwarded.\(entry.key)", of: HTTPSettings.HeaderPolicy.self)
                else {
                    ok = false
                    continue
                }
                switch entry.key {
                case "x-forwarded-for": http.xForwardedFor = policy
                case "x-forwarded-proto": http.xForwardedProto = policy
                default: http.forwarded = policy
                }
            }
        }
        if let node = values["route-by-user"] {
            if node.scalar?.string == "basic" {
                http.userRouting = .basic
            } else if let entries = reader.mapping(
                node, key: "\(key).route-by-user", allowed: ["header"], what: Self.routeByUserForm),
                let header = entries.first,
                let name = reader.string(header.value, key: "\(key).route-by-user.header", what: "a header name")
            {
                http.userRouting = .header(name)
            } else {
                if node.scalar != nil {
                    reader.fail(
                        .invalidValue, at: node, key: "\(key).route-by-user", "is not a way to learn the user",
                        expected: Self.routeByUserForm)
                }
                ok = false
            }
        }
        if let node = values["max-header-size"] {
            if let value = reader.int(node, key: "\(key).max-header-size", range: 1024...1_048_576) {
                http.maxHeaderBytes = value
            } else {
                ok = false
            }
        }
        if let node = values["engine"] {
            // HTTP relays run on Ballast's engine; the key stays so that configs naming it load.
            switch node.scalar?.string {
            case "ballast":
                break
            case "nio":
                reader.fail(
                    .invalidValue, at: node, key: "\(key).engine",
                    "names the SwiftNIO HTTP relay, which Ballast's engine replaced (docs/decisions/0003-data-plane-engine.md); remove the key",
                    expected: "ballast")
                ok = false
            default:
                reader.fail(.invalidValue, at: node, key: "\(key).engine", "is not a data plane", expected: "ballast")
                ok = false
            }
        }
        return ok
    }

    /// Applies one `timeouts` entry an HTTP relay takes; false when it is not one.
    mutating func readHTTPTimeout(_ name: String, _ value: Duration, into http: inout HTTPSettings) -> Bool {
        switch name {
        case "request": http.timeouts.request = value
        case "server": http.timeouts.server = value
        case "server-idle": http.timeouts.serverIdle = value
        case "keep-alive": http.timeouts.keepAlive = value
        default: return false
        }
        return true
    }

    mutating func readCertificate(_ node: YAMLNode, key: String) -> HTTPSettings.Certificate? {
        guard
            let entries = reader.mapping(
                node, key: key, allowed: Self.certificateKeys, what: "{certificate: FILE, key: FILE}")
        else { return nil }
        let values = Dictionary(entries.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        var files: [String: String] = [:]
        for name in Self.certificateKeys {
            guard let valueNode = values[name] else {
                reader.missing(name, in: node, key: key, expected: "a path to a PEM file")
                continue
            }
            guard let path = reader.string(valueNode, key: "\(key).\(name)", what: "a path to a PEM file") else {
                continue
            }
            let resolved = resolve(path)
            guard FileManager.default.isReadableFile(atPath: resolved) else {
                reader.fail(
                    .invalidValue, at: valueNode, key: "\(key).\(name)", "\(resolved) cannot be read",
                    expected: "a readable PEM file (relative paths start at the config file's folder)")
                continue
            }
            files[name] = resolved
        }
        guard let certificate = files["certificate"], let keyFile = files["key"] else { return nil }
        return HTTPSettings.Certificate(certificateFile: certificate, keyFile: keyFile)
    }

    private mutating func readServerTLS(_ node: YAMLNode, key: String) -> HTTPSettings.ServerTLS? {
        if case .scalar = node {
            guard let on = reader.bool(node, key: key) else { return nil }
            return on ? HTTPSettings.ServerTLS(verify: true) : nil
        }
        guard let entries = reader.mapping(node, key: key, allowed: Self.serverTLSKeys, what: "true, or a mapping")
        else { return nil }
        var tls = HTTPSettings.ServerTLS(verify: true)
        var ok = true
        for entry in entries {
            switch entry.key {
            case "verify":
                if let value = reader.bool(entry.value, key: "\(key).verify") { tls.verify = value } else { ok = false }
            case "ca-file":
                if let path = reader.string(entry.value, key: "\(key).ca-file", what: "a path to a PEM file") {
                    let resolved = resolve(path)
                    if FileManager.default.isReadableFile(atPath: resolved) {
                        tls.caFile = resolved
                    } else {
                        reader.fail(
                            .invalidValue, at: entry.value, key: "\(key).ca-file", "\(resolved) cannot be read",
                            expected: "a readable PEM bundle of CA certificates")
                        ok = false
                    }
                } else {
                    ok = false
                }
            default:
                if let name = reader.string(entry.value, key: "\(key).server-name", what: "a DNS name") {
                    tls.serverName = name
                } else {
                    ok = false
                }
            }
        }
        return ok ? tls : nil
    }

    /// Reads `persistence: {type: cookie, ...}`.
    mutating func readCookie(_ node: YAMLNode, values: [String: YAMLNode], key: String) -> CookiePersistence? {
        guard let keyNode = values["key"] else {
            reader.missing(
                "key", in: node, key: key, expected: "a secret of at least 16 characters to sign the cookie with")
            return nil
        }
        guard let secret = reader.string(keyNode, key: "\(key).key", what: "a secret of at least 16 characters"),
            secret.count >= 16
        else {
            if case .scalar(let scalar) = keyNode, !scalar.string.isEmpty {
                reader.fail(
                    .invalidValue, at: keyNode, key: "\(key).key", "is too short to sign with",
                    expected: "a secret of at least 16 characters")
            }
            return nil
        }
        var cookie = CookiePersistence(key: secret)
        var ok = true
        for (name, valueNode) in values {
            switch name {
            case "name":
                if let value = reader.string(valueNode, key: "\(key).name", what: "a cookie name"),
                    CookiePersistence.isValidName(value)
                {
                    cookie.name = value
                } else {
                    reader.fail(
                        .invalidValue, at: valueNode, key: "\(key).name", "is not a cookie name",
                        expected: "letters, digits and -_.")
                    ok = false
                }
            case "secure":
                if let value = reader.bool(valueNode, key: "\(key).secure") {
                    cookie.secure = value
                } else {
                    ok = false
                }
            case "http-only":
                if let value = reader.bool(valueNode, key: "\(key).http-only") {
                    cookie.httpOnly = value
                } else {
                    ok = false
                }
            case "same-site":
                if case .scalar(let scalar) = valueNode,
                    let value = CookiePersistence.SameSite.allCases.first(where: {
                        $0.rawValue.lowercased() == scalar.string.lowercased()
                    })
                {
                    cookie.sameSite = value
                } else {
                    reader.fail(
                        .invalidValue, at: valueNode, key: "\(key).same-site", "is \(reader.describe(valueNode))",
                        expected: "Strict, Lax or None")
                    ok = false
                }
            case "path":
                if let value = reader.string(valueNode, key: "\(key).path", what: "a path starting with /"),
                    value.hasPrefix("/"),
                    !value.contains(";")
                {
                    cookie.path = value
                } else {
                    ok = false
                }
            default:
                break
            }
        }
        return ok ? cookie : nil
    }

    /// A path from the config, relative to the config file's folder.
    func resolve(_ path: String) -> String {
        guard !path.hasPrefix("/") else { return path }
        let folder = (reader.file as NSString).deletingLastPathComponent
        return folder.isEmpty ? path : (folder as NSString).appendingPathComponent(path)
    }
}
