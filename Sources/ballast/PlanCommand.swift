import ArgumentParser
import BallastAdmin
import BallastConfig
import BallastCore
import BallastDNS
import BallastPlans
import BallastStore
import Foundation
import Logging
import NIOHTTP1

/// `ballast plan failover|failback --site SITE`, `ballast plan show`: make a plan and show it.
struct PlanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan", abstract: "Make a site failover or failback plan, or show one; `ballast apply` runs it.",
        subcommands: [FailoverPlan.self, FailbackPlan.self, ShowPlan.self])

    struct FailoverPlan: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "failover",
            abstract: "Plan giving up a site: promote the store, fence, move users, restore, repoint.")
        @OptionGroup var options: ConfigOption
        @Option(help: "The site that is lost.") var site: String
        @Flag(help: "Work on the store directly, not through the running node's admin API.") var direct = false

        func run() async throws {
            if !direct, let api = await NodeAPI.reach(config: options.config) {
                NodeAPI.print(try await api.plan(.POST, "/api/plans/failover?site=\(site)"), via: api.endpoint)
                print("\nApply it with: ballast apply -c \(options.config)")
                return
            }
            let access = try await StoreAccess.open(config: options.config)
            let directory = try await access.runKeepingOpen { store throws(StoreError) in try await store.snapshot() }
            try await savePlan(access: access, config: options.config) { () throws(PlanBuilder.Refusal) in
                try PlanBuilder.failover(site: site, topology: access.topology, directory: directory)
            }
        }
    }

    struct FailbackPlan: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "failback", abstract: "Plan the way home after a failover, keeping what changed meanwhile.")
        @OptionGroup var options: ConfigOption
        @Option(help: "The site coming back.") var site: String
        @Flag(help: "Work on the store directly, not through the running node's admin API.") var direct = false

        func run() async throws { try await planFailback(site: site, config: options.config, direct: direct) }
    }

    struct ShowPlan: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show", abstract: "Show a plan and its steps' progress.")
        @OptionGroup var options: ConfigOption
        @Argument(help: "The plan; the newest unless given.") var id: String?
        @Flag(help: "Read the store directly (plan show always does).") var direct = false
        @Flag(help: "Also print the step log: every record each step made, by which runner.") var log = false

        func run() async throws {
            let access = try await StoreAccess.open(config: options.config)
            guard
                let record = try await access.runKeepingOpen({ store throws(StoreError) in
                    try await store.planRecord(id: id)
                })
            else {
                await access.store.close()
                printError(
                    "error: no plan\(id.map { " \($0)" } ?? ""): make one with `ballast plan failover --site SITE`")
                throw ExitCode(1)
            }
            let entries =
                log
                ? try await access.runKeepingOpen { store throws(StoreError) in
                    try await store.stepLog(plan: record.plan.id)
                } : []
            await access.store.close()
            printPlan(record.plan, record: record)
            if log {
                print("\nstep log (oldest first):")
                for entry in entries {
                    let result = entry.result.count > 160 ? String(entry.result.prefix(160)) + "…" : entry.result
                    print(
                        "  \(entry.at)  step \(entry.step)  \(entry.status)  \(entry.runner.isEmpty ? "-" : entry.runner)  \(result)"
                    )
                }
            }
        }
    }
}

/// `ballast failback --site SITE`: the earlier spelling of `ballast plan failback`, kept for
/// scripts that use it and left out of the help, so that both plans are made under `plan`.
struct FailbackCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "failback", abstract: "The same as `ballast plan failback`.", shouldDisplay: false)
    @OptionGroup var options: ConfigOption
    @Option(help: "The site coming back.") var site: String
    @Flag(help: "Work on the store directly, not through the running node's admin API.") var direct = false

    func run() async throws { try await planFailback(site: site, config: options.config, direct: direct) }
}

private func planFailback(site: String, config: String, direct: Bool) async throws {
    if !direct, let api = await NodeAPI.reach(config: config) {
        NodeAPI.print(try await api.plan(.POST, "/api/plans/failback?site=\(site)"), via: api.endpoint)
        print("\nApply it with: ballast apply -c \(config)")
        return
    }
    let access = try await StoreAccess.open(config: config)
    let (failover, directory) = try await access.runKeepingOpen { store throws(StoreError) in
        (try await store.planRecord(kind: .failover, site: site, status: .applied), try await store.snapshot())
    }
    guard let failover else {
        await access.store.close()
        printError("error: no applied failover of \(site) to come back from")
        throw ExitCode(1)
    }
    try await savePlan(access: access, config: config) { () throws(PlanBuilder.Refusal) in
        try PlanBuilder.failback(site: site, after: failover.plan, directory: directory)
    }
}

/// Makes a plan with `make`, keeps it in the store and prints it; exits 1 when it is refused.
private func savePlan(access: StoreAccess, config: String, _ make: () throws(PlanBuilder.Refusal) -> Plan) async throws
{
    let plan: Plan
    do {
        plan = try make()
    } catch {
        await access.store.close()
        printError("error: \(error)")
        throw ExitCode(1)
    }
    try await access.run { store throws(StoreError) in try await store.save(plan) }
    printPlan(plan, record: nil)
    print("\nApply it with: ballast apply \(plan.id) -c \(config)")
}

private func printPlan(_ plan: Plan, record: PlanRecord?) {
    print(
        "plan \(plan.id) (\(plan.kind.rawValue) of site \(plan.site), made at revision \(plan.revision))\(record.map { ": \($0.status)" } ?? "")"
    )
    for step in plan.steps {
        let progress = record?.steps[step.number]
        var line = "  \(step.number). \(step.summary)"
        if let progress {
            line += "  [\(progress.status.rawValue)"
            if let finished = progress.finishedAt { line += " \(finished)" }
            if !progress.result.isEmpty && !progress.result.hasPrefix("[") { line += ": \(progress.result)" }
            line += "]"
        }
        print(line)
    }
}

/// `ballast apply [PLAN]`: runs a plan's steps in order, resuming where it stopped.
struct ApplyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply", abstract: "Apply a plan, step by step; an interrupted plan resumes where it stopped.")
    @OptionGroup var options: ConfigOption
    @Argument(help: "The plan; the newest unless given.") var id: String?
    @Option(help: "Run only this step (its predecessors must be done).") var step: Int?
    @Flag(help: "Change a site's fence even within its hold-down.") var force = false
    @Flag(help: "Work on the store directly, not through the running node's admin API.") var direct = false
    @Option(help: "Wait this long in each step once it is marked running (500ms, 2s; at most 60s), to watch a plan go.")
    var stepDelay: String?

    func validate() throws {
        if let stepDelay {
            guard let delay = Duration(configText: stepDelay), delay >= .zero, delay <= .seconds(60) else {
                throw ValidationError("--step-delay \(stepDelay) is not a duration of at most 60s, such as 500ms or 2s")
            }
        }
    }

    /// The step delay in milliseconds (0 when not given).
    private var delayMilliseconds: Int64 {
        guard let delay = stepDelay.flatMap({ Duration(configText: $0) }) else { return 0 }
        return delay.components.seconds * 1000 + delay.components.attoseconds / 1_000_000_000_000_000
    }

    func run() async throws {
        if !direct, let api = await NodeAPI.reach(config: options.config) {
            var planID = self.id
            if planID == nil { planID = try await api.plan(.GET, "/api/plans/latest").id }
            let id = planID ?? ""
            var query = "wait=true"
            if force { query += "&force=true" }
            if let step { query += "&step=\(step)" }
            if delayMilliseconds > 0 { query += "&step-delay-ms=\(delayMilliseconds)" }
            let started = ContinuousClock.now
            let view = try await api.plan(.POST, "/api/plans/\(id)/apply?\(query)")
            NodeAPI.print(view, via: api.endpoint)
            let took = (ContinuousClock.now - started).formatted(
                .units(allowed: [.seconds, .milliseconds], width: .abbreviated))
            print("plan \(view.id): \(view.status) in \(took)")
            return
        }
        let access = try await StoreAccess.open(config: options.config)
        guard
            let record = try await access.runKeepingOpen({ store throws(StoreError) in
                try await store.planRecord(id: id)
            })
        else {
            await access.store.close()
            printError("error: no plan to apply: make one with `ballast plan failover --site SITE`")
            throw ExitCode(1)
        }
        var logger = Logger(label: "ballast")
        logger.logLevel = .warning
        // Straight to the store: the node is not reachable, but its DNS listener may be.
        let dns = await DNSProbe.reachableLookup(access.topology)
        if dns == nil, !access.topology.dns.listeners.isEmpty {
            print(
                "note: no DNS listener answers at \(access.topology.dns.listeners[0]); the check DNS step cannot ask it"
            )
        }
        let runner = PlanRunner(
            store: access.store, topology: access.topology, logger: logger, dnsLookup: dns,
            owner: PlanLease.processOwner(StoreAccess.actor))
        let started = ContinuousClock.now
        do {
            let done = try await runner.apply(
                record, only: step, force: force, started: PlanRunner.pause(.milliseconds(delayMilliseconds))
            ) { print($0) }
            await access.store.close()
            let took = (ContinuousClock.now - started).formatted(
                .units(allowed: [.seconds, .milliseconds], width: .abbreviated))
            print("plan \(done.plan.id): \(done.status) in \(took)")
        } catch {
            await access.store.close()
            printError("error: \(error)")
            throw ExitCode(1)
        }
    }
}
