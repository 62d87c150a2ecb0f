/// Whether a pool can serve, and since when, as one published state shows it.
public struct PoolAvailability: Hashable, Sendable {
    /// True while at least one server of the pool is in rotation.
    public var available: Bool
    /// When that began, as far as health records tell; nil when they do not (a drain).
    public var since: ContinuousClock.Instant?

    /// An availability.
    public init(available: Bool, since: ContinuousClock.Instant?) {
        self.available = available
        self.since = since
    }
}

extension State {
    /// Whether `pool` has a server in rotation and since when: the earliest `up` of the
    /// servers in rotation, or the latest `down` of the others.
    public func availability(ofPool name: String) -> PoolAvailability? {
        guard let view = pools[name] else { return nil }
        if !view.isUnavailable {
            let members = view.primaries.members + view.backups.members
            let times = members.compactMap { health(of: $0.key)?.since }
            // A server nobody probes has always been there.
            if times.count < members.count { return PoolAvailability(available: true, since: nil) }
            return PoolAvailability(available: true, since: times.min())
        }
        let times = view.pool.servers.compactMap { server -> ContinuousClock.Instant? in
            let key = ServerKey(pool: name, server: server.name)
            guard let health = health(of: key), !health.status.takesTraffic else { return nil }
            return health.since
        }
        return PoolAvailability(available: false, since: times.max())
    }
}

/// Whether each pool's users are served by its backup registrar: a pool is lost once it
/// has been unavailable for the failure-detection interval, and found again once it has
/// been available for the fallback interval. Both are hold-downs: a pool that flaps
/// faster than them does not move its users.
public struct PoolResiliency: Hashable, Sendable {
    /// A change of a pool's mode, for the log and metrics.
    public struct Transition: Hashable, Sendable {
        /// The pool.
        public var pool: String
        /// True when the pool became lost, false when its users go home.
        public var lost: Bool

        /// A transition.
        public init(pool: String, lost: Bool) {
            self.pool = pool
            self.lost = lost
        }
    }

    private var lostPools: Set<String> = []
    /// First time a pool was seen in its current availability, for records without `since`.
    private var firstSeen: [String: (available: Bool, at: ContinuousClock.Instant)] = [:]

    /// Every pool starts found.
    public init() {}

    /// The pools whose users the backup registrar serves now.
    public var lost: Set<String> { lostPools }

    /// Whether `pool` is lost.
    public func isLost(_ pool: String) -> Bool { lostPools.contains(pool) }

    /// Moves every pool's mode forward to `now` given the state; returns what changed.
    public mutating func advance(
        state: State, failureDetection: Duration, fallback: Duration, now: ContinuousClock.Instant
    ) -> [Transition] {
        var transitions: [Transition] = []
        var seen: Set<String> = []
        for pool in state.topology.pools {
            seen.insert(pool.name)
            guard let availability = state.availability(ofPool: pool.name) else { continue }
            let since: ContinuousClock.Instant
            if let known = availability.since {
                since = known
                firstSeen[pool.name] = nil
            } else if let first = firstSeen[pool.name], first.available == availability.available {
                since = first.at
            } else {
                firstSeen[pool.name] = (availability.available, now)
                since = now
            }
            let duration = since.duration(to: now)
            if lostPools.contains(pool.name) {
                if availability.available && duration >= fallback {
                    lostPools.remove(pool.name)
                    transitions.append(Transition(pool: pool.name, lost: false))
                }
            } else if !availability.available && duration >= failureDetection {
                lostPools.insert(pool.name)
                transitions.append(Transition(pool: pool.name, lost: true))
            }
        }
        for gone in lostPools.subtracting(seen) {
            lostPools.remove(gone)
            transitions.append(Transition(pool: gone, lost: false))
        }
        firstSeen = firstSeen.filter { seen.contains($0.key) }
        return transitions
    }

    public static func == (lhs: PoolResiliency, rhs: PoolResiliency) -> Bool { lhs.lostPools == rhs.lostPools }
    public func hash(into hasher: inout Hasher) { hasher.combine(lostPools) }
}
