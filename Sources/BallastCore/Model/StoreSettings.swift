/// Where the directory lives and how a node follows it.
public struct StoreSettings: Hashable, Sendable {
    /// A SQLite file path, or `postgres://USER:PASSWORD@HOST:PORT/DATABASE`.
    public var location: String
    /// PostgreSQL streaming standbys of `location` at other sites, as URLs: read while the primary
    /// is lost, promoted by a failover plan.
    public var standbys: [String] = []
    /// How often a node reads the store's revision, besides PostgreSQL's notifications.
    public var pollInterval: Duration
    /// Where a node keeps the last directory it applied, to run from when the store is unreachable.
    public var cacheFile: String
    /// The digest realm users' HA1 values are computed in: passwords given to `ballast users import`
    /// are hashed in it, and mail and web logins are checked against it.
    public var realm: String
    /// How long a failed mail or web login waits before its error, whatever the reason.
    public var failureDelay: Duration

    /// Store settings; the cache file defaults to the store's path plus `.last-state.json`.
    public init(
        location: String, realm: String, pollInterval: Duration = .milliseconds(500), cacheFile: String? = nil,
        failureDelay: Duration = .milliseconds(500)
    ) {
        self.location = location
        self.realm = realm
        self.pollInterval = pollInterval
        self.cacheFile =
            cacheFile
            ?? (Self.isPostgres(location) ? "ballast-directory.last-state.json" : location + ".last-state.json")
        self.failureDelay = failureDelay
    }

    /// Where a plan made while only a standby answers waits, beside the cache file, until its
    /// first step promotes the standby.
    public var pendingPlanFile: String {
        (cacheFile.hasSuffix(".last-state.json") ? String(cacheFile.dropLast(".last-state.json".count)) : cacheFile)
            + ".pending-plan.json"
    }

    /// Whether `location` names a PostgreSQL server rather than a SQLite file.
    public static func isPostgres(_ location: String) -> Bool {
        location.hasPrefix("postgres://") || location.hasPrefix("postgresql://")
    }
}
