public import BallastCore
import Foundation
import Yams

/// Reads the users file that stands in for the store's users until the store lands:
/// SIP URI, digest HA1 values (never passwords), home pool and mail address per user.
///
/// ```yaml
/// realm: lab.example
/// users:
///   - uri: sip:alice@lab.example
///     home-pool: pool-hq
///     ha1-md5: 0123...       # MD5(alice:lab.example:password), hex
///     ha1-sha256: 89ab...    # SHA-256 of the same, hex
/// ```
public enum UsersFileReader {
    static let topKeys = ["realm", "users"]
    static let userKeys = ["uri", "auth-name", "home-pool", "ha1-md5", "ha1-sha256", "mail"]

    /// Loads the users file named by `settings`, checking home pools against `topology`.
    public static func load(settings: SIPSettings, topology: Topology) throws(ConfigErrors) -> Directory {
        guard let path = settings.usersFile else { return Directory() }
        let text = try ConfigLoader.read(
            path, expected: "a readable users YAML file (sip.users-file; relative paths start at the config's folder)")
        return try parse(yaml: text, file: path, settings: settings, topology: topology)
    }

    /// Parses users YAML; `file` names it in errors.
    public static func parse(
        yaml: String, file: String, settings: SIPSettings, topology: Topology
    ) throws(ConfigErrors)
        -> Directory
    {
        var reader = YAMLReader(file: file)
        let root: YAMLNode?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch {
            throw ConfigErrors(errors: [
                ConfigError(
                    code: .syntax, file: file, line: nil, column: nil, key: "", message: "is not valid YAML (\(error))",
                    expected: "realm: and users: as in examples/users.yaml")
            ])
        }
        var users: [DirectoryUser] = []
        if let root,
            let entries = reader.mapping(root, key: "", allowed: topKeys, what: "a mapping with realm and users")
        {
            let values = Dictionary(entries.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
            if let node = values["realm"], let realm = reader.string(node, key: "realm", what: "the digest realm"),
                realm != settings.realm
            {
                reader.fail(
                    .conflict, at: node, key: "realm",
                    "is \"\(realm)\" but sip.realm is \"\(settings.realm)\": the HA1 values would never match",
                    expected: "the realm the HA1 values were computed with, equal to sip.realm")
            }
            if let node = values["users"] {
                var seenURIs: Set<String> = []
                var seenNames: Set<String> = []
                for (index, item) in (reader.sequence(node, key: "users", what: "a list of users") ?? []).enumerated() {
                    guard let user = readUser(item, key: "users[\(index)]", topology: topology, reader: &reader) else {
                        continue
                    }
                    guard seenURIs.insert(user.sipURI).inserted, seenNames.insert(user.authName).inserted else {
                        reader.fail(
                            .duplicate, at: item, key: "users[\(index)]", "repeats \(user.sipURI) or its auth name",
                            expected: "each user and auth name once")
                        continue
                    }
                    users.append(user)
                }
            }
        }
        guard reader.errors.isEmpty else { throw ConfigErrors(errors: reader.errors) }
        return Directory(users: users)
    }

    private static func readUser(
        _ node: YAMLNode, key: String, topology: Topology, reader: inout YAMLReader
    )
        -> DirectoryUser?
    {
        guard let entries = reader.mapping(node, key: key, allowed: userKeys, what: "a user mapping") else {
            return nil
        }
        let values = Dictionary(entries.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        guard let uriNode = values["uri"] else {
            reader.missing("uri", in: node, key: key, expected: "the user's SIP URI, such as sip:alice@example.com")
            return nil
        }
        guard let text = uriNode.scalar?.string, let uri = UserAddress.addressOfRecord(text) else {
            reader.fail(
                .invalidValue, at: uriNode, key: "\(key).uri", "is \(reader.describe(uriNode))",
                expected: "a SIP URI with a user, such as sip:alice@example.com")
            return nil
        }
        var authName = uri.user
        if let node = values["auth-name"] {
            guard let name = reader.string(node, key: "\(key).auth-name", what: "the digest username") else {
                return nil
            }
            authName = name
        }
        var ha1: [DigestAlgorithm: String] = [:]
        for (name, algorithm, length) in [("ha1-md5", DigestAlgorithm.md5, 32), ("ha1-sha256", .sha256, 64)] {
            guard let valueNode = values[name] else { continue }
            guard let value = valueNode.scalar?.string.lowercased(), value.utf8.count == length,
                value.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) })
            else {
                reader.fail(
                    .invalidValue, at: valueNode, key: "\(key).\(name)", "is \(reader.describe(valueNode))",
                    expected: "\(length) hex digits (`ballast users ha1` computes them)")
                return nil
            }
            ha1[algorithm] = value
        }
        if ha1.isEmpty {
            reader.missing(
                "ha1-md5", in: node, key: key, expected: "ha1-md5 or ha1-sha256 (`ballast users ha1` computes them)")
            return nil
        }
        var homePool: String?
        if let node = values["home-pool"] {
            guard let pool = reader.string(node, key: "\(key).home-pool", what: "a pool name") else { return nil }
            guard topology.pool(named: pool) != nil else {
                reader.fail(
                    .unknownReference, at: node, key: "\(key).home-pool", "names no pool",
                    expected: "a pool from the config: " + topology.pools.map(\.name).joined(separator: ", "))
                return nil
            }
            homePool = pool
        }
        var mail: String?
        if let node = values["mail"] {
            mail = reader.string(node, key: "\(key).mail", what: "a mail address")
        }
        return DirectoryUser(sipURI: uri.aor, authName: authName, ha1: ha1, homePool: homePool, mail: mail)
    }
}
