import BallastConfig
import BallastCore
import BallastStore
import CoreMetrics
import Foundation
import Hummingbird
import Logging

/// `/api/users/import`, `/api/databases/...`: the directory writes of `ballast users import` and
/// `ballast db add|activate`, made by the node so that its log and metrics see them. `?by=` names
/// who asked, for the history.
enum DirectoryRoutes {
    /// The largest import body taken: about 200,000 users in CSV.
    static let maximumImport = 64 << 20

    static func add(
        to api: RouterGroup<AdminContext>, state: PublishedState,
        directory: @escaping @Sendable () async -> DirectoryStore?,
        logger: Logger
    ) {
        @Sendable func actor(_ request: Request) -> String {
            "admin API" + (request.uri.queryParameters.get("by").map { " (\($0))" } ?? "")
        }
        @Sendable func written(_ action: String, _ count: Int) {
            Counter(label: "ballast_directory_writes_total", dimensions: [("action", action)]).increment(by: count)
        }

        api.post("users/import") { request, _ -> Response in
            let directoryStore = try await PlanRoutes.openStore(directory)
            let topology = state.current.topology
            guard let realm = topology.store?.realm else {
                throw HTTPError(.serviceUnavailable, message: "this node has no store")
            }
            let file = request.uri.queryParameters.get("file") ?? "upload"
            let format: UserImport.Format
            switch request.uri.queryParameters.get("format") {
            case "json": format = .json
            case "csv": format = .csv
            case nil: format = UserImport.Format(path: file)
            case let other?: throw HTTPError(.badRequest, message: "format \(other) is neither csv nor json")
            }
            let body = try await request.body.collect(upTo: maximumImport)
            let text = String(buffer: body)
            let existing = try await PlanRoutes.storeCall { () throws(StoreError) in try await directoryStore.snapshot()
            }
            let parsed: UserImport
            do throws(ConfigErrors) {
                parsed = try UserImport.parse(
                    text, format: format, file: file, realm: realm, topology: topology,
                    knownDatabases: Set(existing.databases.keys))
            } catch {
                let lines =
                    error.errors.map(\.description) + ["\(file): \(error.errors.count) error(s); nothing was imported"]
                throw HTTPError(.unprocessableContent, message: lines.joined(separator: "\n"))
            }
            let changes = parsed.databases.map(DirectoryChange.putDatabase) + parsed.users.map(DirectoryChange.putUser)
            let revision = try await PlanRoutes.storeCall { () throws(StoreError) in
                // All rows or none: one transaction.
                try await directoryStore.apply(changes, actor: actor(request)) { done in
                    logger.info(
                        "importing users",
                        metadata: ["file": "\(file)", "written": "\(done)", "of": "\(changes.count)"])
                }
            }
            written("import", changes.count)
            logger.notice(
                "users imported",
                metadata: ["file": "\(file)", "users": "\(parsed.users.count)", "revision": "\(revision)"])
            var answer = [
                "users": "\(parsed.users.count)", "databases": "\(parsed.databases.count)", "revision": "\(revision)",
            ]
            answer["warning"] = await NodeFollow.wait(state, revision: revision)
            return try AdminServer.jsonResponse(answer)
        }

        api.put("databases/:name") { request, context -> Response in
            let directoryStore = try await PlanRoutes.openStore(directory)
            let name = try context.parameters.require("name")
            let copies = (request.uri.queryParameters.get("copies") ?? "").split(separator: ",").map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            guard let first = copies.first else {
                throw HTTPError(.badRequest, message: "name the servers holding a copy: ?copies=EX1,EX2")
            }
            let known = Set(state.current.topology.pools.flatMap { $0.servers.map(\.name) })
            if let unknown = copies.first(where: { !known.contains($0) }) {
                throw HTTPError(.badRequest, message: "no pool in the node's config has a server named \(unknown)")
            }
            let database = MailboxDatabase(
                name: name, copies: copies, active: request.uri.queryParameters.get("active") ?? first)
            let revision = try await PlanRoutes.storeCall { () throws(StoreError) in
                try await directoryStore.apply([.putDatabase(database)], actor: actor(request))
            }
            written("put-database", 1)
            logger.notice(
                "database set",
                metadata: ["database": "\(name)", "active": "\(database.active)", "revision": "\(revision)"])
            return try AdminServer.jsonResponse(
                [
                    "database": name, "copies": copies.joined(separator: ","), "active": database.active,
                    "revision": "\(revision)",
                ])
        }

        api.post("databases/:name/activate") { request, context -> Response in
            let directoryStore = try await PlanRoutes.openStore(directory)
            let name = try context.parameters.require("name")
            guard let server = request.uri.queryParameters.get("on") else {
                throw HTTPError(.badRequest, message: "name the server holding the copy to activate: ?on=EX2")
            }
            let (before, revision) = try await PlanRoutes.storeCall { () throws(StoreError) -> (String, UInt64?) in
                let directory = try await directoryStore.snapshot()
                let before = directory.database(named: name)?.active ?? "?"
                // Already active there: nothing to write, and no new revision to make nodes reload.
                if before == server { return (before, nil) }
                let revision = try await directoryStore.apply(
                    [.activate(database: name, server: server)], actor: actor(request))
                return (before, revision)
            }
            guard let revision else {
                return try AdminServer.jsonResponse([
                    "database": name, "from": before, "to": server, "unchanged": "true",
                ])
            }
            written("activate", 1)
            logger.notice(
                "database activated",
                metadata: ["database": "\(name)", "from": "\(before)", "to": "\(server)", "revision": "\(revision)"])
            // The answer waits until this node serves the move: the next login lands on the new server.
            var answer = ["database": name, "from": before, "to": server, "revision": "\(revision)"]
            answer["warning"] = await NodeFollow.wait(state, revision: revision)
            if let warning = answer["warning"] {
                logger.warning("database activated, not yet followed", metadata: ["reason": "\(warning)"])
            }
            return try AdminServer.jsonResponse(answer)
        }
    }
}
