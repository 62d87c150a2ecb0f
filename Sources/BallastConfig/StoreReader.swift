import BallastCore
import Foundation
import Yams

/// The `store` section: where the directory lives.
extension TopologyBuilder {
    static let standbyForm =
        "a postgres://USER:PASSWORD@HOST:PORT/DATABASE URL of a streaming standby, or a list of them"
    static let storeLocationForm = "a SQLite file path, or postgres://USER:PASSWORD@HOST:PORT/DATABASE"

    mutating func readStore(_ node: YAMLNode, sip: SIPSettings?) -> StoreSettings? {
        guard var fields = reader.fields(node, key: "store", section: StoreKeys.section),
            var location = reader.require(StoreKeys.location, in: &fields)
        else { return nil }
        if StoreSettings.isPostgres(location) {
            guard let url = URLComponents(string: location), url.host?.isEmpty == false else {
                reader.fail(
                    .invalidValue, at: fields[StoreKeys.location], key: "store.location", "is not a PostgreSQL URL",
                    expected: Self.storeLocationForm)
                return nil
            }
        } else {
            location = resolve(location)
        }
        var realm = sip?.realm
        if let node = fields[StoreKeys.realm] {
            guard let value = reader.read(StoreKeys.realm, in: &fields) else { return nil }
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
        if let node = fields[StoreKeys.standby] {
            let form = Self.standbyForm
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
        if let value = reader.read(StoreKeys.pollInterval, in: &fields) { settings.pollInterval = value }
        if let value = reader.read(StoreKeys.failureDelay, in: &fields) { settings.failureDelay = value }
        if let path = reader.read(StoreKeys.cacheFile, in: &fields) {
            settings.cacheFile = resolve(path)
        } else if fields.failed {
            return nil
        } else if StoreSettings.isPostgres(location) {
            settings.cacheFile = resolve(settings.cacheFile)
        }
        return fields.failed ? nil : settings
    }
}

/// The `backup` section: where directory backups go and how often.
extension TopologyBuilder {
    mutating func readBackup(_ node: YAMLNode) -> BackupSettings? {
        guard var fields = reader.fields(node, key: "backup", section: BackupKeys.section),
            let folder = reader.require(
                BackupKeys.folder, in: &fields, expected: "a folder for backup files, at the DR site")
        else { return nil }
        var settings = BackupSettings(folder: resolve(folder))
        if let every = reader.read(BackupKeys.every, in: &fields) { settings.every = every }
        if let keep = reader.read(BackupKeys.keep, in: &fields) { settings.keep = keep }
        return fields.failed ? nil : settings
    }
}

/// The `witness` section: a witness at a third location for automatic site failover.
extension TopologyBuilder {
    mutating func readWitness(_ node: YAMLNode) -> WitnessSettings? {
        guard var fields = reader.fields(node, key: "witness", section: WitnessKeys.section),
            let endpoint = reader.require(
                WitnessKeys.listen, in: &fields, expected: "the witness's ADDRESS:PORT (ballast witness --listen)")
        else { return nil }
        var settings = WitnessSettings(endpoint: endpoint)
        if let value = reader.read(WitnessKeys.automaticAfter, in: &fields) { settings.automaticAfter = value }
        return fields.failed ? nil : settings
    }
}
