public import BallastCore
public import Foundation

/// A plan as the store keeps it: its steps and where each one is.
public struct PlanRecord: Hashable, Sendable {
    /// The plan.
    public var plan: Plan
    /// `proposed`, `applying`, `applied`.
    public var status: String
    /// When it was made.
    public var createdAt: String
    /// Each step's status, started and finished times and result, by number.
    public var steps: [Int: StepRecord]

    /// One step's progress.
    public struct StepRecord: Hashable, Sendable {
        public var status: StepStatus
        public var startedAt: String?
        public var finishedAt: String?
        /// What the step did, or the list of users it moves (JSON) while it runs.
        public var result: String
    }

    /// Each step's status, by number.
    public var statuses: [Int: StepStatus] { steps.mapValues(\.status) }
}

extension DirectoryStore {
    /// Keeps `plan` as proposed, its steps pending.
    public func save(_ plan: Plan, at date: Date = Date()) async throws(StoreError) {
        let body = String(decoding: (try? JSONEncoder().encode(plan)) ?? Data(), as: UTF8.self)
        let location = backend.location
        try await run { session in
            let existing = try await session.execute("SELECT status FROM plans WHERE id = $1", [.text(plan.id)])
            if let status = existing.first?.first?.text, status != "proposed" {
                throw StoreError(
                    .invalidChange, "plan \(plan.id) is already \(status): apply it, or make a new one after a change",
                    location: location)
            }
            try await session.execute("DELETE FROM plans WHERE id = $1", [.text(plan.id)])
            try await session.execute(
                "INSERT INTO plans (id, kind, site, created_at, body, status) VALUES ($1, $2, $3, $4, $5, 'proposed')",
                [.text(plan.id), .text(plan.kind.rawValue), .text(plan.site), .text(Self.timestamp(date)), .text(body)])
            for step in plan.steps {
                try await session.execute(
                    "INSERT INTO plan_steps (plan_id, number, status) VALUES ($1, $2, 'pending')",
                    [.text(plan.id), .integer(Int64(step.number))])
            }
        }
    }

    /// The plan with this id, or the newest one (of `kind` and `site` when given).
    public func planRecord(id: String? = nil, kind: Plan.Kind? = nil, site: String? = nil, status: String? = nil)
        async throws(StoreError) -> PlanRecord?
    {
        try await run(readOnly: true) { session in
            var conditions: [String] = []
            var binds: [SQLValue] = []
            for (column, value) in [("id", id), ("kind", kind?.rawValue), ("site", site), ("status", status)] {
                guard let value else { continue }
                binds.append(.text(value))
                conditions.append("\(column) = $\(binds.count)")
            }
            let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            let rows = try await session.execute(
                "SELECT id, body, status, created_at FROM plans \(filter) ORDER BY created_at DESC, id DESC LIMIT 1", binds)
            guard let row = rows.first, let plan = try? JSONDecoder().decode(Plan.self, from: Data((row[1].text ?? "").utf8))
            else { return nil }
            var steps: [Int: PlanRecord.StepRecord] = [:]
            for step in try await session.execute(
                "SELECT number, status, started_at, finished_at, result FROM plan_steps WHERE plan_id = $1", [.text(plan.id)])
            {
                steps[Int(step[0].integer ?? 0)] = PlanRecord.StepRecord(
                    status: StepStatus(rawValue: step[1].text ?? "") ?? .pending, startedAt: step[2].text,
                    finishedAt: step[3].text, result: step[4].text ?? "")
            }
            return PlanRecord(plan: plan, status: row[2].text ?? "", createdAt: row[3].text ?? "", steps: steps)
        }
    }

    /// Records a step's progress (and the plan's status with it).
    public func record(
        plan id: String, step number: Int, status: StepStatus, result: String, planStatus: String, at date: Date = Date()
    ) async throws(StoreError) {
        let when = Self.timestamp(date)
        try await run { session in
            if status == .running {
                try await session.execute(
                    "UPDATE plan_steps SET status = $1, started_at = COALESCE(started_at, $2), result = $3 WHERE plan_id = $4 AND number = $5",
                    [.text(status.rawValue), .text(when), .text(result), .text(id), .integer(Int64(number))])
            } else {
                try await session.execute(
                    "UPDATE plan_steps SET status = $1, finished_at = $2, result = $3 WHERE plan_id = $4 AND number = $5",
                    [.text(status.rawValue), .text(when), .text(result), .text(id), .integer(Int64(number))])
            }
            try await session.execute("UPDATE plans SET status = $1 WHERE id = $2", [.text(planStatus), .text(id)])
        }
    }
}
