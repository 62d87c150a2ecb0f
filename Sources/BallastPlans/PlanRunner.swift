public import BallastCore
public import BallastStore
import CoreMetrics
import Foundation
public import Logging

/// Applies a plan step by step against the store: each step is marked running before it starts
/// and done when it has finished, in the store, so that a plan interrupted by a crash resumes
/// where it stopped; a step whose predecessors are not done is refused. Every change a step makes
/// goes through the directory, recorded in its history as `plan ID step N`.
public struct PlanRunner: Sendable {
    /// Why a step cannot run.
    public struct Refusal: Error, Hashable, Sendable, CustomStringConvertible {
        public var description: String
    }

    private let store: DirectoryStore
    private let topology: Topology
    private let logger: Logger
    /// Asks the DNS listener one question (name and type) and returns its answers in text form.
    public typealias DNSLookup = @Sendable (DomainName, DNSFollowCheck.Kind) async throws -> [String]
    private let dnsLookup: DNSLookup?
    /// How long the "check DNS" step waits for the listener's answers to follow.
    private let dnsWait: Duration
    /// Waits (bounded) until the running node serves the store's latest revision; returns a
    /// warning when it did not in time. Nil when no node is there to wait for.
    public typealias NodeFollows = @Sendable () async -> String?
    private let nodeFollows: NodeFollows?
    /// Who runs the plan, as its lease names it.
    private let owner: String

    /// A runner against `store` for the deployment `topology` describes. With `dnsLookup`, the
    /// "check DNS" step asks the DNS listener (for up to `dnsWait`); with `nodeFollows`, a step that
    /// changed the directory ends when the node serves the change.
    public init(
        store: DirectoryStore, topology: Topology, logger: Logger, dnsLookup: DNSLookup? = nil,
        dnsWait: Duration = .seconds(10), nodeFollows: NodeFollows? = nil,
        owner: String = PlanLease.processOwner("runner")
    ) {
        self.owner = owner
        self.store = store
        self.topology = topology
        self.logger = logger
        self.dnsLookup = dnsLookup
        self.dnsWait = dnsWait
        self.nodeFollows = nodeFollows
    }

    /// Called in each step once it is recorded running, before it acts: `ballast apply
    /// --step-delay` waits there, to watch a plan go step by step.
    public typealias StepStarted = @Sendable (PlanStep) async throws -> Void

    /// A `StepStarted` that waits `delay` in each step (none when zero).
    public static func pause(_ delay: Duration) -> StepStarted {
        { _ in if delay > .zero { try await Task.sleep(for: delay) } }
    }

    /// Runs every step of `record` that is not done (or only `only`), in order; `force` ignores
    /// the sites' hold-down. `progress` hears of each step as it starts and ends; `started` is
    /// called in each step before it acts.
    ///
    /// One runner at a time applies a plan, across every node and the CLI: the runner takes the
    /// plan's lease first (a second runner is refused with who holds it), renews it in the
    /// transaction of every write it makes and every ten seconds, and gives it back at the end.
    /// The plan's progress is read again once the lease is held, so no step is done twice.
    public func apply(
        _ record: PlanRecord, only: Int? = nil, force: Bool = false, started: StepStarted = { _ in },
        progress: @Sendable (String) -> Void
    ) async throws -> PlanRecord {
        let lease = PlanLease(plan: record.plan.id, owner: owner)
        var held: PlanLease? = lease
        do {
            try await store.take(lease)
        } catch  where error.code == .busy {
            throw Refusal(description: error.message)
        } catch {
            // A plan waiting on local disk for a read-only store to be promoted: that store
            // takes no lease, and only this node can apply the plan.
            held = nil
        }
        let store = self.store
        do {
            let done = try await withThrowingTaskGroup(of: Void.self) { group in
                if let held {
                    // Renews the lease every ten seconds while the steps run; cancelled when they end.
                    group.addTask {
                        while !Task.isCancelled {
                            try? await Task.sleep(for: .seconds(10))
                            if !Task.isCancelled { try? await store.take(held) }
                        }
                    }
                }
                let current = held == nil ? record : (try await store.planRecord(id: record.plan.id) ?? record)
                let done = try await applySteps(
                    current, only: only, force: force, lease: held, started: started, progress: progress)
                group.cancelAll()
                return done
            }
            if let held { await store.release(held) }
            return done
        } catch {
            if let held { await store.release(held) }
            throw error
        }
    }

    private func applySteps(
        _ record: PlanRecord, only: Int?, force: Bool, lease: PlanLease?, started: StepStarted,
        progress: @Sendable (String) -> Void
    ) async throws -> PlanRecord {
        var statuses = record.statuses
        let plan = record.plan
        for step in plan.steps {
            if let only, step.number != only { continue }
            let status = statuses[step.number] ?? .pending
            if status == .done || status == .skipped {
                progress("step \(step.number) already \(status.rawValue): \(step.summary)")
                continue
            }
            guard PlanBuilder.mayRun(step.number, statuses: statuses) else {
                let first = plan.steps.first { statuses[$0.number] != .done && statuses[$0.number] != .skipped }
                throw Refusal(
                    description:
                        "step \(step.number) of \(plan.id) cannot run before step \(first?.number ?? 1) is done: apply in order"
                )
            }
            let previous = record.steps[step.number]?.result ?? ""
            try await store.record(
                plan: plan.id, step: step.number, status: .running, result: previous, planStatus: .applying,
                lease: lease)
            progress("step \(step.number) running: \(step.summary)")
            try await started(step)
            let began = ContinuousClock.now
            let outcome = try await run(
                step, plan: plan, listed: StepResult.listed(previous, by: step.action), force: force, lease: lease)
            var stored = outcome.result.stored
            if case .done = outcome, step.action.changesTheDirectory, let nodeFollows, let warning = await nodeFollows()
            {
                // A list stays a list, for the steps that read it back; the warning goes with a sentence.
                if case .note = outcome.result { stored += "; warning: \(warning)" }
                logger.warning(
                    "the node did not follow a plan step", metadata: ["plan": "\(plan.id)", "warning": "\(warning)"])
                progress("step \(step.number) warning: \(warning)")
            }
            let last = plan.steps.last?.number == step.number
            try await store.record(
                plan: plan.id, step: step.number, status: outcome.status, result: stored,
                planStatus: last ? .applied : .applying,
                lease: lease)
            statuses[step.number] = outcome.status
            Counter(
                label: "ballast_plan_steps_total",
                dimensions: [("kind", plan.kind.rawValue), ("status", outcome.status.rawValue)]
            )
            .increment()
            let took = (ContinuousClock.now - began).formatted(
                .units(allowed: [.seconds, .milliseconds], width: .abbreviated))
            progress("step \(step.number) \(outcome.status.rawValue) in \(took): \(outcome.result.summary)")
        }
        return try await store.planRecord(id: plan.id) ?? record
    }

    /// Runs one step; `listed` is what it listed before it was interrupted, when it was.
    private func run(
        _ step: PlanStep, plan: Plan, listed: StepResult?, force: Bool, lease: PlanLease?
    ) async throws -> StepOutcome {
        let actor = "plan \(plan.id) step \(step.number)"
        switch step.action {
        case .fenceSite(let site), .unfenceSite(let site):
            let fence: Bool
            if case .fenceSite = step.action { fence = true } else { fence = false }
            let directory = try await store.snapshot()
            if directory.isFenced(site: site) == fence {
                return .done(.note("site \(site) was already \(fence ? "fenced" : "unfenced")"))
            }
            if !force, let changed = directory.siteChanges[site],
                let holdDown = topology.sites.first(where: { $0.name == site })?.holdDown,
                let since = try? Date(changed, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)),
                Date().timeIntervalSince(since) < Double(holdDown.components.seconds)
            {
                throw Refusal(
                    description:
                        "site \(site) changed at \(changed), within its hold-down of \(holdDown): wait, or apply with --force"
                )
            }
            try await store.apply([fence ? .fenceSite(site) : .unfenceSite(site)], actor: actor, lease: lease)
            return .done(.note("site \(site) \(fence ? "fenced" : "unfenced")"))
        case .promoteStore:
            guard let outcome = try await store.promoteIfStandby() else {
                return .skipped("SQLite: one file, nothing to promote")
            }
            return .done(.note(outcome))
        case .moveUsers(let from, let to):
            // The users to move are listed once, before the first is moved, so that a resumed step
            // finishes the same list and a failback knows whom to bring home.
            let current = try await store.snapshot()
            let users: [String]
            if let earlier = listed?.users {
                users = earlier
            } else {
                users = current.users.filter { $0.homePool == from }.map(\.sipURI)
                try await store.record(
                    plan: plan.id, step: step.number, status: .running, result: StepResult.users(users).stored,
                    planStatus: .applying, lease: lease)
            }
            let pending = users.filter { current.user(sipURI: $0)?.homePool == from }
            try await moveHomes(pending, from: from, to: to, actor: actor, lease: lease)
            return .done(.users(users))
        case .moveUsersBack(let from, let to, let failover):
            guard let record = try await store.planRecord(id: failover),
                let move = record.plan.steps.first(where: { $0.action == .moveUsers(from: from, to: to) }),
                let users = StepResult.listed(record.steps[move.number]?.result ?? "", by: move.action)?.users
            else {
                throw Refusal(description: "plan \(failover) has no finished move of \(from)'s users to read back")
            }
            // Users homed elsewhere meanwhile stay where an operator put them, and are named.
            try await moveHomes(users, from: to, to: from, actor: actor, lease: lease)
            let after = try await store.snapshot()
            let home = users.filter { after.user(sipURI: $0)?.homePool == from }
            let stayed = users.filter { after.user(sipURI: $0)?.homePool != from }.map { uri in
                "\(uri) (\(after.user(sipURI: uri).map { "homed at \($0.homePool ?? "no pool") by an operator" } ?? "no longer in the directory"))"
            }
            var result = "\(home.count) of \(counted(users.count, "user")) home at \(from)"
            if !stayed.isEmpty {
                result +=
                    "; left where they are: " + stayed.prefix(20).joined(separator: ", ")
                    + (stayed.count > 20 ? " and \(stayed.count - 20) more" : "")
            }
            return .done(.note(result))
        case .activateCopies(let site):
            // The moves are listed (DB:from>to) before any is made, so that a resumed step makes the
            // same ones and a failback knows what to move back.
            let servers = topology.serverNames(at: site)
            let moves: [Activation]
            if let earlier = listed?.activations {
                moves = earlier
            } else {
                var planned: [Activation] = []
                for database in try await store.snapshot().allDatabases where servers.contains(database.active) {
                    guard let elsewhere = database.copies.first(where: { !servers.contains($0) }) else {
                        logger.error(
                            "database has no copy outside the lost site", metadata: ["database": "\(database.name)"])
                        continue
                    }
                    planned.append(Activation(database: database.name, from: database.active, to: elsewhere))
                }
                moves = planned
                try await store.record(
                    plan: plan.id, step: step.number, status: .running, result: StepResult.activations(planned).stored,
                    planStatus: .applying, lease: lease)
            }
            let current = try await store.snapshot()
            let changes = moves.compactMap { move -> DirectoryChange? in
                guard let database = current.database(named: move.database), database.active != move.to else {
                    return nil
                }
                return .activate(database: move.database, server: move.to)
            }
            if !changes.isEmpty { try await store.apply(changes, actor: actor, lease: lease) }
            return .done(.activations(moves))
        case .activateCopiesBack(let site, let failover):
            guard let record = try await store.planRecord(id: failover),
                let activation = record.plan.steps.first(where: { $0.action == .activateCopies(site: site) }),
                let moves = StepResult.listed(record.steps[activation.number]?.result ?? "", by: activation.action)?
                    .activations
            else { throw Refusal(description: "plan \(failover) has no finished activation to read back") }
            let current = try await store.snapshot()
            // A database moved again meanwhile stays where an operator put it.
            let changes = moves.compactMap { move -> DirectoryChange? in
                guard current.database(named: move.database)?.active == move.to else { return nil }
                return .activate(database: move.database, server: move.from)
            }
            if !changes.isEmpty { try await store.apply(changes, actor: actor, lease: lease) }
            return .done(.note("\(changes.count) of \(counted(moves.count, "database")) active at \(site) again"))
        case .restoreUserData(let pool):
            guard
                let move = plan.steps.first(where: {
                    if case .moveUsers(let from, _) = $0.action { return from == pool } else { return false }
                }),
                let record = try await store.planRecord(id: plan.id),
                let users = StepResult.listed(record.steps[move.number]?.result ?? "", by: move.action)?.users
            else { return .skipped("no users were moved from \(pool)") }
            guard let folder = topology.backup?.folder, let newest = DirectoryBackup.files(in: folder).first
            else { return .skipped("no backup in the backup folder to restore from") }
            let backup = try await DirectoryBackup.load(path: newest, expectedRealm: topology.store?.realm)
            let current = try await store.snapshot()
            var changes: [DirectoryChange] = []
            for uri in users {
                guard let live = current.user(sipURI: uri), live.contacts.isEmpty,
                    let saved = backup.directory.user(sipURI: uri), !saved.contacts.isEmpty
                else { continue }
                changes.append(.setContacts(sipURI: uri, contacts: saved.contacts))
            }
            try await store.applyInBatches(changes, actor: actor, lease: lease)
            return .done(
                .note("\(changes.count) contact lists restored from \((newest as NSString).lastPathComponent)"))
        case .repointDNS(let site):
            let directory = try await store.snapshot()
            let pools = Set(topology.pools.filter { $0.site == site }.map(\.name))
            let bound = topology.zones.flatMap(\.records).filter { record in
                switch record.value {
                case .pool(let name): return pools.contains(name)
                case .srv(_, _, _, _, let name): return name.map(pools.contains) ?? false
                default: return false
                }
            }
            let fenced = directory.isFenced(site: site)
            let expected = plan.kind == .failover
            guard fenced == expected else {
                throw Refusal(
                    description:
                        "site \(site) is \(fenced ? "fenced" : "not fenced"): DNS cannot follow; apply the fence step first"
                )
            }
            let names = Set(bound.map { "\($0.name)" }).sorted()
            let follow = "\(counted(names.count, "name")) follow: \(names.joined(separator: ", "))"
            let check = DNSFollowCheck(topology: topology, site: site, failover: plan.kind == .failover)
            guard let dnsLookup, !check.probes.isEmpty else {
                return .done(
                    .note(check.probes.isEmpty ? follow : follow + " (not asked: this config has no DNS listener)"))
            }
            let deadline = ContinuousClock.now + dnsWait
            var unmet: [String] = []
            repeat {
                unmet = []
                for probe in check.probes {
                    do {
                        let answers = try await dnsLookup(probe.name, probe.kind)
                        if !check.isMet(probe, answers: answers) {
                            unmet.append("\(probe): \(answers.isEmpty ? "no answer" : answers.joined(separator: ", "))")
                        }
                    } catch {
                        unmet.append("\(probe): \(error)")
                    }
                }
                if unmet.isEmpty {
                    return .done(
                        .note(
                            "\(follow); the DNS listener answers so (\(counted(check.probes.count, "question")) asked)")
                    )
                }
                try await Task.sleep(for: .milliseconds(200))
            } while ContinuousClock.now < deadline
            let wanted = check.siteIsOut ? "without \(site)'s servers" : "with \(site)'s servers again"
            throw Refusal(
                description:
                    "after \(dnsWait) the DNS listener still does not answer \(wanted): \(unmet.joined(separator: "; ")); apply again once it follows"
            )
        case .switchSIPRedirects(let site):
            let directory = try await store.snapshot()
            let pools = Set(topology.pools.filter { $0.site == site }.map(\.name))
            let homedThere = directory.users.filter { $0.homePool.map(pools.contains) ?? false }.count
            if plan.kind == .failover && homedThere > 0 {
                throw Refusal(
                    description:
                        "\(homedThere == 1 ? "1 user is" : "\(homedThere) users are") still homed at \(site): apply the move steps first"
                )
            }
            return .done(
                .note(
                    plan.kind == .failover
                        ? "no user is homed at \(site); registrars redirect to the new homes"
                        : "\(counted(homedThere, "user")) homed at \(site) again"))
        }
    }

    /// Moves each user homed at `from` to `to`; a user an operator homed elsewhere meanwhile, even
    /// between this call and its transaction, stays there (the operator's move wins).
    private func moveHomes(_ users: [String], from: String, to: String, actor: String, lease: PlanLease?) async throws {
        try await store.applyInBatches(
            users.map { DirectoryChange.moveHome(sipURI: $0, from: from, to: to) }, actor: actor, lease: lease)
    }
}
