public import BallastCore
public import Foundation
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// A plan as the store keeps it: its steps and where each one is.
public struct PlanRecord: Hashable, Sendable, Codable {
    /// The plan.
    public var plan: Plan
    /// Where the plan is.
    public var status: PlanStatus
    /// When it was made.
    public var createdAt: String
    /// Each step's status, started and finished times and result, by number.
    public var steps: [Int: StepRecord]

    /// One step's progress.
    public struct StepRecord: Hashable, Sendable, Codable {
        public var status: StepStatus
        public var startedAt: String?
        public var finishedAt: String?
        /// What the step did, or the list of users it moves (JSON) while it runs.
        public var result: String
    }

    /// Each step's status, by number.
    public var statuses: [Int: StepStatus] { steps.mapValues(\.status) }
}

/// Where a plan is: made, being applied, or applied to its last step.
public enum PlanStatus: String, Hashable, Sendable, Codable {
    case proposed
    case applying
    case applied
}

/// The right to apply one plan, held by one runner (a node or the CLI) at a time, across every
/// node and process sharing the store: taken before the first step, renewed inside the
/// transaction of every write the runner makes, released at the end. A runner that died leaves
/// it to expire.
public struct PlanLease: Sendable, Hashable {
    /// The plan.
    public var plan: String
    /// Who holds it: `node HOST pid N` or `cli:USER@HOST pid N`, and a random tag.
    public var owner: String
    /// How long it lasts without renewal.
    public var term: Duration

    /// A lease on `plan` for `owner`.
    public init(plan: String, owner: String, term: Duration = .seconds(30)) {
        self.plan = plan
        self.owner = owner
        self.term = term
    }

    /// A name for this process, for `owner`: `KIND@HOST pid N #TAG`.
    public static func processOwner(_ kind: String) -> String {
        let host = ProcessInfo.processInfo.hostName
        return
            "\(kind)@\(host) pid \(ProcessInfo.processInfo.processIdentifier) #\(UUID().uuidString.prefix(6).lowercased())"
    }

    /// Whether `owner` names a process of this host that no longer runs.
    public static func diedHere(_ owner: String) -> Bool {
        let words = owner.split(separator: " ")
        guard let pidIndex = words.lastIndex(of: "pid"), pidIndex > words.startIndex, pidIndex + 1 < words.endIndex,
            let pid = Int32(words[pidIndex + 1]), pid > 0,
            let at = words[pidIndex - 1].lastIndex(of: "@"),
            words[pidIndex - 1][words[pidIndex - 1].index(after: at)...] == ProcessInfo.processInfo.hostName
        else { return false }
        return kill(pid, 0) == -1 && errno == ESRCH
    }
}

extension DirectoryStore {
    /// Takes `lease` (or renews it, when this owner holds it); refused with who holds it while
    /// another owner's lease runs, unless that owner is a process of this host that has died
    /// (a runner killed mid-plan), whose lease is taken over at once.
    public func take(_ lease: PlanLease, now: Date = Date()) async throws(StoreError) {
        let location = backend.location
        do {
            try await run { session in try await Self.hold(lease, session: session, now: now, location: location) }
        } catch  where error.code == .busy {
            let holder = try await run(readOnly: true) { session in
                try await session.execute("SELECT lease_owner FROM plans WHERE id = $1", [.text(lease.plan)]).first?
                    .first?.text
            }
            guard let holder, PlanLease.diedHere(holder) else { throw error }
            try await run { session in
                try await session.execute(
                    "UPDATE plans SET lease_owner = '', lease_until = 0 WHERE id = $1 AND lease_owner = $2",
                    [.text(lease.plan), .text(holder)])
                try await Self.hold(lease, session: session, now: now, location: location)
            }
            logger.notice(
                "took over the plan from a runner that died", metadata: ["plan": "\(lease.plan)", "was": "\(holder)"])
        }
    }

    /// Gives `lease` back, when its owner still holds it.
    public func release(_ lease: PlanLease) async {
        _ = try? await run { session in
            try await session.execute(
                "UPDATE plans SET lease_owner = '', lease_until = 0 WHERE id = $1 AND lease_owner = $2",
                [.text(lease.plan), .text(lease.owner)])
        }
    }

    /// Inside a transaction: takes or renews `lease`, or throws with who holds the plan.
    static func hold(_ lease: PlanLease, session: any SQLSession, now: Date, location: String) async throws {
        let nowMs = Int64(now.timeIntervalSince1970 * 1000)
        let until =
            nowMs + lease.term.components.seconds * 1000 + lease.term.components.attoseconds / 1_000_000_000_000_000
        let taken = try await session.execute(
            "UPDATE plans SET lease_owner = $1, lease_until = $2 WHERE id = $3 AND (lease_owner = '' OR lease_owner = $1 OR lease_until < $4) RETURNING id",
            [.text(lease.owner), .integer(until), .text(lease.plan), .integer(nowMs)])
        guard taken.isEmpty else { return }
        let holder = try await session.execute(
            "SELECT lease_owner, lease_until FROM plans WHERE id = $1", [.text(lease.plan)])
        guard let row = holder.first else {
            throw StoreError(
                .invalidChange, "no plan \(lease.plan) in the store: make it with `ballast plan failover`",
                location: location)
        }
        let left = max(0, (row[1].integer ?? 0) - nowMs) / 1000
        throw StoreError(
            .busy,
            "plan \(lease.plan) is being applied by \(row[0].text ?? "another runner") (its lease runs \(left) s more unless renewed): "
                + "wait for it to finish, see `ballast plan show`, then apply again", location: location)
    }

    /// One entry of a plan's step log.
    public struct StepLogEntry: Hashable, Sendable, Codable {
        public var step: Int
        public var at: String
        /// The runner that wrote it (its lease's owner).
        public var runner: String
        public var status: String
        public var result: String
    }

    /// Every record the plan's steps made, oldest first.
    public func stepLog(plan id: String) async throws(StoreError) -> [StepLogEntry] {
        try await run(readOnly: true) { session in
            try await session.execute(
                "SELECT number, at, runner, status, result FROM plan_step_log WHERE plan_id = $1 ORDER BY id",
                [.text(id)]
            ).map { row in
                StepLogEntry(
                    step: Int(row[0].integer ?? 0), at: row[1].text ?? "", runner: row[2].text ?? "",
                    status: row[3].text ?? "",
                    result: row[4].text ?? "")
            }
        }
    }

    /// Keeps `plan` as proposed, its steps pending. While only a PostgreSQL standby answers, a
    /// plan that starts by promoting it is kept in `pendingPlanFile` instead, until that step is done.
    public func save(_ plan: Plan, at date: Date = Date()) async throws(StoreError) {
        let steps = Dictionary(
            uniqueKeysWithValues: plan.steps.map { ($0.number, PlanRecord.StepRecord(status: .pending, result: "")) })
        let record = PlanRecord(plan: plan, status: .proposed, createdAt: Self.timestamp(date), steps: steps)
        let location = backend.location
        do {
            try await run { session in
                let existing = try await session.execute("SELECT status FROM plans WHERE id = $1", [.text(plan.id)])
                if let status = existing.first?.first?.text, status != PlanStatus.proposed.rawValue {
                    throw StoreError(
                        .invalidChange,
                        "plan \(plan.id) is already \(status): apply it, or make a new one after a change",
                        location: location)
                }
                try await session.execute("DELETE FROM plans WHERE id = $1", [.text(plan.id)])
                try await Self.insert(record, session: session)
            }
        } catch  where error.code == .readOnly {
            guard let file = pendingPlanFile, plan.steps.first?.action == .promoteStore else { throw error }
            if let pending = PendingPlan.read(file), pending.record.plan.id == plan.id,
                pending.record.status != .proposed
            {
                throw StoreError(
                    .invalidChange, "plan \(plan.id) is already \(pending.record.status): apply it", location: file)
            }
            try PendingPlan(record: record).write(file)
            logger.notice(
                "the store is read-only: the plan waits on local disk until its first step promotes the standby",
                metadata: ["plan": "\(plan.id)", "file": "\(file)"])
        }
    }

    /// The plan with this id, or the newest one (of `kind` and `site` when given); a plan waiting
    /// on local disk for the store's promotion comes first.
    public func planRecord(
        id: String? = nil, kind: Plan.Kind? = nil, site: String? = nil, status: PlanStatus? = nil
    )
        async throws(StoreError) -> PlanRecord?
    {
        if let file = pendingPlanFile, let pending = PendingPlan.read(file)?.record {
            if case .some(.some) = try? await storedPlanRecord(id: pending.plan.id) {
                // Copied when its promotion finished; the file outlived a crash.
                try? FileManager.default.removeItem(atPath: file)
            } else if id ?? pending.plan.id == pending.plan.id, kind ?? pending.plan.kind == pending.plan.kind,
                site ?? pending.plan.site == pending.plan.site, status ?? pending.status == pending.status
            {
                return pending
            }
        }
        return try await storedPlanRecord(id: id, kind: kind, site: site, status: status)
    }

    private func storedPlanRecord(
        id: String? = nil, kind: Plan.Kind? = nil, site: String? = nil, status: PlanStatus? = nil
    )
        async throws(StoreError) -> PlanRecord?
    {
        try await run(readOnly: true) { session in
            var conditions: [String] = []
            var binds: [SQLValue] = []
            for (column, value) in [("id", id), ("kind", kind?.rawValue), ("site", site), ("status", status?.rawValue)]
            {
                guard let value else { continue }
                binds.append(.text(value))
                conditions.append("\(column) = $\(binds.count)")
            }
            let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            let rows = try await session.execute(
                "SELECT id, body, status, created_at FROM plans \(filter) ORDER BY created_at DESC, id DESC LIMIT 1",
                binds)
            guard let row = rows.first,
                let plan = try? JSONDecoder().decode(Plan.self, from: Data((row[1].text ?? "").utf8))
            else { return nil }
            var steps: [Int: PlanRecord.StepRecord] = [:]
            for step in try await session.execute(
                "SELECT number, status, started_at, finished_at, result FROM plan_steps WHERE plan_id = $1",
                [.text(plan.id)])
            {
                steps[Int(step[0].integer ?? 0)] = PlanRecord.StepRecord(
                    status: StepStatus(rawValue: step[1].text ?? "") ?? .pending, startedAt: step[2].text,
                    finishedAt: step[3].text, result: step[4].text ?? "")
            }
            // A status this version does not know (written by a newer one) reads as applying: not done.
            return PlanRecord(
                plan: plan, status: PlanStatus(rawValue: row[2].text ?? "") ?? .applying, createdAt: row[3].text ?? "",
                steps: steps)
        }
    }

    /// Records a step's progress (and the plan's status with it). A plan waiting on local disk is
    /// written there, and copied into the store once its promotion step is done.
    public func record(
        plan id: String, step number: Int, status: StepStatus, result: String, planStatus: PlanStatus,
        at date: Date = Date(),
        lease: PlanLease? = nil
    ) async throws(StoreError) {
        let when = Self.timestamp(date)
        if let file = pendingPlanFile, var pending = PendingPlan.read(file), pending.record.plan.id == id {
            var step = pending.record.steps[number] ?? PlanRecord.StepRecord(status: .pending, result: "")
            step.status = status
            step.result = result
            if status == .running { step.startedAt = step.startedAt ?? when } else { step.finishedAt = when }
            pending.record.steps[number] = step
            pending.record.status = planStatus
            try pending.write(file)
            if status == .done, pending.record.plan.steps.first(where: { $0.number == number })?.action == .promoteStore
            {
                try await copyIntoStore(pending.record)
                try? FileManager.default.removeItem(atPath: file)
                logger.notice("the plan is in the store now that it is writable", metadata: ["plan": "\(id)"])
            }
            return
        }
        let location = backend.location
        try await run { session in
            if let lease { try await Self.hold(lease, session: session, now: date, location: location) }
            // Every record is also appended to the step log, which nothing rewrites: what a step
            // listed or did stays readable after a rerun or a second runner.
            try await session.execute(
                "INSERT INTO plan_step_log (plan_id, number, at, runner, status, result) VALUES ($1, $2, $3, $4, $5, $6)",
                [
                    .text(id), .integer(Int64(number)), .text(when), .text(lease?.owner ?? ""), .text(status.rawValue),
                    .text(result),
                ])
            if status == .running {
                try await session.execute(
                    "UPDATE plan_steps SET status = $1, started_at = COALESCE(started_at, $2), result = $3 WHERE plan_id = $4 AND number = $5",
                    [.text(status.rawValue), .text(when), .text(result), .text(id), .integer(Int64(number))])
            } else {
                try await session.execute(
                    "UPDATE plan_steps SET status = $1, finished_at = $2, result = $3 WHERE plan_id = $4 AND number = $5",
                    [.text(status.rawValue), .text(when), .text(result), .text(id), .integer(Int64(number))])
            }
            try await session.execute(
                "UPDATE plans SET status = $1 WHERE id = $2", [.text(planStatus.rawValue), .text(id)])
        }
    }
}

extension DirectoryStore {
    /// Writes a plan kept on local disk, with each step's progress, into the (now writable) store.
    private func copyIntoStore(_ record: PlanRecord) async throws(StoreError) {
        try await run { session in
            if try await session.execute("SELECT status FROM plans WHERE id = $1", [.text(record.plan.id)]).first != nil
            {
                return
            }
            try await Self.insert(record, session: session)
        }
    }

    /// Inserts a plan and each step's progress.
    private static func insert(_ record: PlanRecord, session: any SQLSession) async throws {
        let body = String(decoding: (try? JSONEncoder().encode(record.plan)) ?? Data(), as: UTF8.self)
        try await session.execute(
            "INSERT INTO plans (id, kind, site, created_at, body, status) VALUES ($1, $2, $3, $4, $5, $6)",
            [
                .text(record.plan.id), .text(record.plan.kind.rawValue), .text(record.plan.site),
                .text(record.createdAt),
                .text(body), .text(record.status.rawValue),
            ])
        for step in record.plan.steps {
            let progress = record.steps[step.number]
            try await session.execute(
                "INSERT INTO plan_steps (plan_id, number, status, started_at, finished_at, result) VALUES ($1, $2, $3, $4, $5, $6)",
                [
                    .text(record.plan.id), .integer(Int64(step.number)), .text((progress?.status ?? .pending).rawValue),
                    .optional(progress?.startedAt), .optional(progress?.finishedAt), .text(progress?.result ?? ""),
                ])
        }
    }
}

/// A plan made while the store was read-only, kept on local disk (0600) until a standby is promoted.
struct PendingPlan: Codable {
    var record: PlanRecord

    static func read(_ path: String) -> PendingPlan? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try? JSONDecoder().decode(PendingPlan.self, from: data)
    }

    func write(_ path: String) throws(StoreError) {
        do {
            let data = try JSONEncoder().encode(self)
            let temporary = path + ".partial"
            guard
                FileManager.default.createFile(
                    atPath: temporary, contents: data, attributes: [.posixPermissions: 0o600]),
                rename(temporary, path) == 0
            else { throw CocoaError(.fileWriteNoPermission) }
        } catch {
            throw StoreError(
                .localFile, "cannot write the pending plan to \(path) (\(error)): check the folder's permissions",
                location: path)
        }
    }
}
