import ArgumentParser
import BallastCore
import Foundation
import NIOHTTP1

/// `ballast status`: pools, servers and their health, from a running node.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show relays, pools and servers with their health, from a running node.")

    @OptionGroup var admin: AdminOptions

    @Flag(help: "Print the admin API's JSON as it is.")
    var json = false

    func run() async throws {
        let (endpoint, token) = try admin.resolve()
        let (status, body) = try await AdminClient.request(.GET, path: "/api/status", endpoint: endpoint, token: token)
        guard status == 200 else {
            printError("error: the admin API answered \(status): \(body)")
            throw ExitCode(1)
        }
        if json {
            print(body)
            return
        }
        let report = try JSONDecoder().decode(StatusReport.self, from: Data(body.utf8))
        print(StatusTable.render(report))
    }
}

/// `ballast drain POOL/SERVER`: the server takes no new connections; open ones go on.
struct DrainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drain", abstract: "Take a server out of rotation without cutting its open connections.")

    @OptionGroup var admin: AdminOptions

    @Argument(help: "The server, as POOL/SERVER (see ballast status).")
    var server: String

    func run() async throws {
        try await setDrained(true, server: server, admin: admin)
    }
}

/// `ballast undrain POOL/SERVER`: the server takes new connections again.
struct UndrainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "undrain", abstract: "Put a drained server back into rotation.")

    @OptionGroup var admin: AdminOptions

    @Argument(help: "The server, as POOL/SERVER (see ballast status).")
    var server: String

    func run() async throws {
        try await setDrained(false, server: server, admin: admin)
    }
}

private func setDrained(_ drained: Bool, server: String, admin: AdminOptions) async throws {
    guard let key = ServerKey(server) else {
        throw ValidationError("\(server) is not POOL/SERVER, such as cas/cas1")
    }
    let (endpoint, token) = try admin.resolve()
    let path = "/api/servers/\(key.pool)/\(key.server)/\(drained ? "drain" : "undrain")"
    let (status, body) = try await AdminClient.request(.POST, path: path, endpoint: endpoint, token: token)
    guard status == 200 else {
        printError("error: the admin API answered \(status): \(body)")
        throw ExitCode(1)
    }
    print("\(key): \(drained ? "drained: no new connections; open ones go on" : "back in rotation")")
}

/// Renders a status report as a table for a terminal.
enum StatusTable {
    static func render(_ report: StatusReport) -> String {
        var lines = [
            "state version \(report.version), directory revision \(report.directory.revision) (\(counted(report.directory.users, "user")))",
            "",
        ]
        for site in report.sites {
            let fence = site.fenced ? "FENCED since \(site.changedAt ?? "?")" : "serving"
            lines.append("site \(site.name): \(fence); pools \(site.pools.joined(separator: ", "))")
        }
        if !report.sites.isEmpty { lines.append("") }
        for relay in report.relays {
            lines.append("relay \(relay.name)  \(relay.protocol) \(relay.listen) -> \(relay.pool) (\(relay.mode))")
        }
        for pool in report.pools {
            lines.append("")
            var title = "pool \(pool.name)"
            if let site = pool.site { title += " at \(site)" }
            if let backup = pool.backupPool { title += ", backup pool \(backup)" }
            lines.append("\(title): serving from \(pool.serving)")
            let rows = pool.servers.map { server -> [String] in
                var state = server.health
                if !server.probes.isEmpty {
                    state += " (" + server.probes.map { "\($0.port) \($0.health)" }.joined(separator: ", ") + ")"
                }
                if server.drained { state += ",drained" }
                return [
                    "  " + server.name, server.address + (server.port.map { ":\($0)" } ?? ""),
                    server.backup ? "backup" : "primary", "w\(server.weight)", state,
                    "for \(Int(server.healthForSeconds))s", "\(server.activeConnections) open",
                    "\(server.failedConnects) failed", server.lastResult,
                ]
            }
            lines += align(rows)
        }
        return lines.joined(separator: "\n")
    }

    private static func align(_ rows: [[String]]) -> [String] {
        guard let columns = rows.first?.count else { return [] }
        let widths = (0..<columns).map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { index, cell in
                index == columns - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
    }
}
