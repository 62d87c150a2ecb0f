/// Makes failover and failback plans from the config and the directory. Pure.
public enum PlanBuilder {
    /// Why no plan can be made, with what to do.
    public struct Refusal: Error, Hashable, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// The plan that gives up `site`: promote the store, fence the site, move every user of each of its
    /// pools to that pool's backup, restore their user data, repoint DNS, switch SIP redirects.
    public static func failover(site: String, topology: Topology, directory: Directory) throws(Refusal) -> Plan {
        guard topology.sites.contains(where: { $0.name == site }) else {
            throw Refusal(
                description:
                    "no site \(site) in the config; sites: \(topology.sites.map(\.name).joined(separator: ", "))")
        }
        guard topology.sites.count > 1 else { throw Refusal(description: "there is no other site to fail over to") }
        let lost = topology.pools.filter { $0.site == site }
        // Promotion comes first: on a PostgreSQL standby the fence and the moves are writes it must take.
        var steps: [PlanStep.Action] = [.promoteStore, .fenceSite(site)]
        var summaries = [
            "promote the store at the surviving site (a PostgreSQL standby; nothing on SQLite)",
            "fence site \(site): no traffic and no DNS answers for its \(counted(lost.count, "pool")) and servers",
        ]
        var moves: [String] = []
        for pool in lost {
            guard let backup = pool.backupPool else { continue }
            guard let target = topology.pool(named: backup), target.site != site else {
                throw Refusal(
                    description:
                        "pool \(pool.name)'s backup \(backup) is at the lost site too: give it a backup elsewhere")
            }
            let users = directory.users.filter { $0.homePool == pool.name }.count
            steps.append(.moveUsers(from: pool.name, to: backup))
            summaries.append("move \(counted(users, "user")) of \(pool.name) to \(backup), with force")
            moves.append(pool.name)
        }
        let siteServers = topology.serverNames(at: site)
        let databases = directory.allDatabases.filter { siteServers.contains($0.active) }
        if !databases.isEmpty {
            steps.append(.activateCopies(site: site))
            summaries.append(
                "activate copies outside \(site) of \(counted(databases.count, "mailbox database")): \(databases.map(\.name).joined(separator: ", "))"
            )
        }
        for pool in moves {
            steps.append(.restoreUserData(pool: pool))
            summaries.append(
                "restore the contact lists of \(pool)'s users from the newest backup where the store lost them")
        }
        steps.append(.repointDNS(site: site))
        summaries.append("check DNS: records bound to \(site)'s pools answer from their backups")
        steps.append(.switchSIPRedirects(site: site))
        summaries.append("check SIP: the director and registrars send the moved users to their new home")
        return Plan(
            id: "failover-\(site)-r\(directory.revision)", kind: .failover, site: site, revision: directory.revision,
            steps: zip(steps, summaries).enumerated().map {
                PlanStep(number: $0.offset + 1, action: $0.element.0, summary: $0.element.1)
            })
    }

    /// The plan that brings `site` back after `failover` was applied: unfence it, move the users
    /// that plan moved back to their pools (keeping what changed meanwhile), repoint DNS and SIP.
    public static func failback(site: String, after failover: Plan, directory: Directory) throws(Refusal) -> Plan {
        guard failover.kind == .failover, failover.site == site else {
            throw Refusal(description: "plan \(failover.id) is not a failover of \(site)")
        }
        var steps: [PlanStep.Action] = [.unfenceSite(site)]
        var summaries = ["lift the fence of site \(site)"]
        for step in failover.steps {
            switch step.action {
            case .moveUsers(let from, let to):
                steps.append(.moveUsersBack(from: from, to: to, failover: failover.id))
                summaries.append(
                    "move the users \(failover.id) moved from \(from) back from \(to), keeping their changes")
            case .activateCopies:
                steps.append(.activateCopiesBack(site: site, failover: failover.id))
                summaries.append("activate again the mailbox copies at \(site) that \(failover.id) moved away")
            default:
                continue
            }
        }
        steps.append(.repointDNS(site: site))
        summaries.append("check DNS: records bound to \(site)'s pools answer from them again")
        steps.append(.switchSIPRedirects(site: site))
        summaries.append("check SIP: the moved users are sent home again")
        return Plan(
            id: "failback-\(site)-r\(directory.revision)", kind: .failback, site: site, revision: directory.revision,
            steps: zip(steps, summaries).enumerated().map {
                PlanStep(number: $0.offset + 1, action: $0.element.0, summary: $0.element.1)
            })
    }

    /// Whether step `number` may run now: every step before it is done or skipped.
    public static func mayRun(_ number: Int, statuses: [Int: StepStatus]) -> Bool {
        (1..<number).allSatisfy { statuses[$0] == .done || statuses[$0] == .skipped }
    }
}
