/// When a site's failover may start by itself: only with a witness at a third location, once every
/// pool of the site has been unavailable for `automaticAfter`, the site's fence has not changed
/// within its hold-down, and the witness agrees that the site is lost. With two sites and no
/// witness, never. Pure: the caller asks the witness and keeps the clock.
public struct SiteGuard: Hashable, Sendable {
    /// Since when each site has had no pool available, as last seen.
    private var downSince: [String: ContinuousClock.Instant] = [:]

    /// A guard that has seen nothing yet.
    public init() {}

    /// The sites whose failover should be asked of the witness now.
    public mutating func candidates(state: State, automaticAfter: Duration, now: ContinuousClock.Instant) -> [String] {
        var result: [String] = []
        for site in state.topology.sites {
            let pools = state.topology.pools.filter { $0.site == site.name }
            let down = !pools.isEmpty && pools.allSatisfy { state.pools[$0.name]?.isUnavailable ?? true }
            guard down, !state.directory.isFenced(site: site.name) else {
                downSince[site.name] = nil
                continue
            }
            let since = downSince[site.name] ?? now
            downSince[site.name] = since
            let elsewhere = state.topology.sites.contains { other in
                other.name != site.name && !state.directory.isFenced(site: other.name)
                    && state.topology.pools.contains {
                        $0.site == other.name && !(state.pools[$0.name]?.isUnavailable ?? true)
                    }
            }
            if since.duration(to: now) >= automaticAfter && elsewhere { result.append(site.name) }
        }
        return result
    }
}
