/// An ordered list of idempotent steps that moves a deployment between sites (failover) or back
/// (failback): shown before it is applied, and recorded step by step as it is.
public struct Plan: Hashable, Sendable, Codable {
    /// Which way the plan goes.
    public enum Kind: String, Hashable, Sendable, Codable {
        case failover
        case failback
    }

    /// Unique, readable: `failover-hq-r42`.
    public var id: String
    /// Failover or failback.
    public var kind: Kind
    /// The site lost (failover) or returning (failback).
    public var site: String
    /// The directory revision the plan was made from.
    public var revision: UInt64
    /// The steps, in the order they run.
    public var steps: [PlanStep]

    /// A plan.
    public init(id: String, kind: Kind, site: String, revision: UInt64, steps: [PlanStep]) {
        self.id = id
        self.kind = kind
        self.site = site
        self.revision = revision
        self.steps = steps
    }
}

/// One step of a plan. Running it twice has the effect of running it once.
public struct PlanStep: Hashable, Sendable, Codable {
    /// What the step does.
    public enum Action: Hashable, Sendable, Codable {
        /// Fence the site: its pools take no traffic and leave DNS answers, whatever their health.
        case fenceSite(String)
        /// Lift the site's fence.
        case unfenceSite(String)
        /// Promote the PostgreSQL standby at the surviving site; nothing to do on SQLite.
        case promoteStore
        /// Home every user of `from` at `to`, with force: the lost pool is not asked.
        case moveUsers(from: String, to: String)
        /// Bring the users a failover moved from `from` home again; changes made meanwhile stay.
        case moveUsersBack(from: String, to: String, failover: String)
        /// Activate, for every mailbox database active on a server of the site, its first copy elsewhere.
        case activateCopies(site: String)
        /// Activate again the copies a failover moved away from the site, where nobody moved them since.
        case activateCopiesBack(site: String, failover: String)
        /// Restore the contact lists of the users moved from `pool` from the newest backup where
        /// the store lost them.
        case restoreUserData(pool: String)
        /// Check that DNS answers no longer (or again) name the site's pools.
        case repointDNS(site: String)
        /// Check that the director and registrars now send the moved users to their new home.
        case switchSIPRedirects(site: String)

        /// Whether the step writes to the directory (so a node must catch up before traffic follows).
        public var changesTheDirectory: Bool {
            switch self {
            case .fenceSite, .unfenceSite, .moveUsers, .moveUsersBack, .activateCopies, .activateCopiesBack,
                .restoreUserData:
                true
            case .promoteStore, .repointDNS, .switchSIPRedirects: false
            }
        }
    }

    /// 1-based position.
    public var number: Int
    /// What it does.
    public var action: Action
    /// What it does, in words, with the counts known when the plan was made.
    public var summary: String

    /// A step.
    public init(number: Int, action: Action, summary: String) {
        self.number = number
        self.action = action
        self.summary = summary
    }
}

/// Where a plan's step is.
public enum StepStatus: String, Hashable, Sendable, Codable {
    case pending
    /// Started and not finished: a crash left it so, and `apply` runs it again.
    case running
    case done
    /// Nothing to do here (no standby to promote, say).
    case skipped
}
