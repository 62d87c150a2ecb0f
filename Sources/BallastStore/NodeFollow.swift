public import BallastCore

/// A node waiting for itself: after a command wrote to the store through the node, the node's
/// published directory must reach the store's revision before the command returns, so that the
/// next login lands where the change says.
public enum NodeFollow {
    /// Waits (bounded by `state.followTimeout`) until `state` serves `store`'s latest revision;
    /// nil when it does, else a warning that says what the node still serves.
    public static func wait(_ state: PublishedState, _ store: DirectoryStore) async -> String? {
        guard let revision = try? await store.revision() else { return nil }
        return await wait(state, revision: revision)
    }

    /// Waits until `state` serves `revision`; nil when it does, else a warning.
    public static func wait(_ state: PublishedState, revision: UInt64) async -> String? {
        let timeout = state.followTimeout
        if await state.waitForDirectory(revision: revision, timeout: timeout) { return nil }
        return
            "the node still serves directory revision \(state.current.directory.revision) after \(timeout), not \(revision): "
            + "it does not read the store (see its log); new logins may go to the old place until it does"
    }
}
