extension PublishedState {
    /// Waits until the published directory is at `revision` or later, for at most `timeout`;
    /// true when it got there. A command that changed the store returns after this, so that the
    /// next login or query already goes where the change says.
    public func waitForDirectory(revision: UInt64, timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while current.directory.revision < revision {
            guard ContinuousClock.now < deadline else { return false }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return true
    }

    /// How long a command waits for the node to serve a change it wrote: a few polls of the
    /// store (PostgreSQL also notifies, and is usually quicker), at least two seconds.
    public var followTimeout: Duration {
        max(.seconds(2), (current.topology.store?.pollInterval ?? .milliseconds(500)) * 4)
    }
}
