/// Scheduled backups of the directory, kept in a folder (at the DR site: a mount or a synced path).
public struct BackupSettings: Hashable, Sendable {
    /// Where backup files go, and where restores and plans look for the newest.
    public var folder: String
    /// How often a node takes one; nil for none scheduled (`ballast backup` still works).
    public var every: Duration?
    /// How many files are kept; older ones are removed after each new one.
    public var keep: Int

    /// Backup settings.
    public init(folder: String, every: Duration? = nil, keep: Int = 48) {
        self.folder = folder
        self.every = every
        self.keep = keep
    }
}
