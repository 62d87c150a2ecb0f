import BallastCore
import Foundation
import Yams

/// The `store` section: where the directory lives.
extension TopologyBuilder {
    static let storeKeys = ["location", "standby", "poll-interval", "cache-file", "realm", "failure-delay"]
    static let storeLocationForm = "a SQLite file path, or postgres://USER:PASSWORD@HOST:PORT/DATABASE"

    mutating func readStore(_ node: YAMLNode, sip: SIPSettings?) -> StoreSettings? {
        guard
            let entries = reader.mapping(
                node, key: "store", allowed: Self.storeKeys, what: "a mapping of store settings")
        else { return nil }
        let values = Dictionary(entries.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        guard let locationNode = values["location"] else {
            reader.missing("location", in: node, key: "store", expected: Self.storeLocationForm)
            return nil
        }
        guard var location = reader.string(locationNode, key: "store.location", what: Self.storeLocationForm) else {
            return nil
        }
        if StoreSettings.isPostgres(location) {
            guard let url = URLComponents(string: location), url.host?.isEmpty == false else {
                reader.fail(
                    .invalidValue, at: locationNode, key: "store.location", "is not a PostgreSQL URL",
                    expected: Self.storeLocationForm)
                return nil
            }
        } else {
            location = resolve(location)
        }
        var realm = sip?.realm
        if let node = values["realm"] {
            guard let value = reader.string(node, key: "store.realm", what: "the digest realm, such as contoso.com")
            else {
                return nil
            }
            if let sipRealm = sip?.realm, sipRealm != value {
                reader.fail(
                    .conflict, at: node, key: "store.realm",
                    "differs from sip.realm (\(sipRealm)): one set of hashes serves both",
                    expected: "the same realm as sip.realm, or no store.realm")
                return nil
            }
            realm = value
        }
        guard let realm else {
            reader.missing(
                "realm", in: node, key: "store",
                expected: "the digest realm passwords are hashed in, such as contoso.com")
            return nil
        }
        var settings = StoreSettings(location: location, realm: realm)
        if let node = values["standby"] {
            let form = "a postgres://USER:PASSWORD@HOST:PORT/DATABASE URL of a streaming standby, or a list of them"
            guard StoreSettings.isPostgres(location) else {
                reader.fail(
                    .conflict, at: node, key: "store.standby",
                    "needs a PostgreSQL store.location (SQLite has no standby)", expected: form)
                return nil
            }
            let items: [YAMLNode]
            if case .sequence(let sequence) = node { items = Array(sequence) } else { items = [node] }
            for item in items {
                guard let url = reader.string(item, key: "store.standby", what: form) else { return nil }
                guard StoreSettings.isPostgres(url), URLComponents(string: url)?.host?.isEmpty == false else {
                    reader.fail(
                        .invalidValue, at: item, key: "store.standby", "is not a PostgreSQL URL", expected: form)
                    return nil
                }
                settings.standbys.append(url)
            }
        }
        if let node = values["poll-interval"] {
            guard let value = reader.duration(node, key: "store.poll-interval", minimum: .milliseconds(50)) else {
                return nil
            }
            settings.pollInterval = value
        }
        if let node = values["failure-delay"] {
            guard let value = reader.duration(node, key: "store.failure-delay", minimum: .zero) else { return nil }
            settings.failureDelay = value
        }
        if let node = values["cache-file"] {
            guard let path = reader.string(node, key: "store.cache-file", what: "a path for the last applied directory")
            else { return nil }
            settings.cacheFile = resolve(path)
        } else if StoreSettings.isPostgres(location) {
            settings.cacheFile = resolve(settings.cacheFile)
        }
        return settings
    }
}

/// The `backup` section: where directory backups go and how often.
extension TopologyBuilder {
    static let backupKeys = ["folder", "every", "keep"]

    mutating func readBackup(_ node: YAMLNode) -> BackupSettings? {
        guard
            let entries = reader.mapping(
                node, key: "backup", allowed: Self.backupKeys, what: "a mapping of backup settings")
        else { return nil }
        let values = Dictionary(entries.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        guard let folderNode = values["folder"] else {
            reader.missing("folder", in: node, key: "backup", expected: "a folder for backup files, at the DR site")
            return nil
        }
        guard let folder = reader.string(folderNode, key: "backup.folder", what: "a folder path") else { return nil }
        var settings = BackupSettings(folder: resolve(folder))
        if let node = values["every"] {
            guard let every = reader.duration(node, key: "backup.every", minimum: .seconds(1)) else { return nil }
            settings.every = every
        }
        if let node = values["keep"] {
            guard let keep = reader.int(node, key: "backup.keep", range: 1...100_000) else { return nil }
            settings.keep = keep
        }
        return settings
    }
}

/// The `witness` section: a witness at a third location for automatic site failover.
extension TopologyBuilder {
    static let witnessKeys = ["listen", "automatic-after"]

    mutating func readWitness(_ node: YAMLNode) -> WitnessSettings? {
        guard
            let entries = reader.mapping(
                node, key: "witness", allowed: Self.witnessKeys, what: "a mapping of witness settings")
        else { return nil }
        let values = Dictionary(entries.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        guard let listenNode = values["listen"] else {
            reader.missing(
                "listen", in: node, key: "witness", expected: "the witness's ADDRESS:PORT (ballast witness --listen)")
            return nil
        }
        guard let endpoint = reader.endpoint(listenNode, key: "witness.listen") else { return nil }
        var settings = WitnessSettings(endpoint: endpoint)
        if let node = values["automatic-after"] {
            guard let value = reader.duration(node, key: "witness.automatic-after", minimum: .seconds(1)) else {
                return nil
            }
            settings.automaticAfter = value
        }
        return settings
    }
}
