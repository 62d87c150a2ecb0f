/// One pool as a published state sees it: which servers may take new connections now.
public struct PoolView: Sendable {
    /// The pool as configured.
    public let pool: Pool
    /// Primary servers that are in rotation (healthy and not drained).
    public let primaries: CandidateSet
    /// Backup servers that are in rotation; used only while `primaries` is empty.
    public let backups: CandidateSet

    /// A view from its parts.
    public init(pool: Pool, primaries: CandidateSet, backups: CandidateSet) {
        self.pool = pool
        self.primaries = primaries
        self.backups = backups
    }

    /// The tier that takes new connections: primaries, else backups.
    public var activeTier: CandidateSet { primaries.isEmpty ? backups : primaries }

    /// True when the pool runs on its backup servers.
    public var isOnBackups: Bool { primaries.isEmpty && !backups.isEmpty }

    /// True when no server can take a new connection.
    public var isUnavailable: Bool { primaries.isEmpty && backups.isEmpty }
}
