import BallastCore
public import BallastStore

/// A plan and its steps' progress, as the admin API shows it and the CLI reads it.
public struct PlanView: Codable, Sendable {
    /// One step's line.
    public struct StepLine: Codable, Sendable {
        public var number: Int
        public var summary: String
        public var status: String
        public var startedAt: String?
        public var finishedAt: String?
        /// What the step did; lists of users are given as their count.
        public var result: String
    }

    public var id: String
    public var kind: String
    public var site: String
    public var status: String
    public var createdAt: String
    public var steps: [StepLine]

    /// The view of a stored plan.
    public init(_ record: PlanRecord) {
        id = record.plan.id
        kind = record.plan.kind.rawValue
        site = record.plan.site
        status = record.status.rawValue
        createdAt = record.createdAt
        steps = record.plan.steps.map { step in
            let progress = record.steps[step.number]
            let result = progress?.result ?? ""
            return StepLine(
                number: step.number, summary: step.summary, status: progress?.status.rawValue ?? "pending",
                startedAt: progress?.startedAt, finishedAt: progress?.finishedAt,
                result: result.hasPrefix("[") ? "\(result.split(separator: ",").count) listed" : result)
        }
    }
}
