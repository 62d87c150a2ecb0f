import BallastCore
import BallastStore
import Foundation
import Hummingbird
import Logging

/// `/api/history`, `/api/users/:login`, `/api/plans/...`: the directory and the plans, through the
/// node's store.
enum PlanRoutes {
    /// A user as the API shows it: never the HA1 values.
    struct UserLine: Codable {
        var sipURI: String
        var authName: String
        var mail: String?
        var homePool: String?
        var mailboxDatabase: String?
        var contacts: [String]
    }

    /// The node's store, or 503 while it has none.
    static func openStore(_ directory: @Sendable () async -> DirectoryStore?) async throws -> DirectoryStore {
        guard let directoryStore = await directory() else {
            throw HTTPError(.serviceUnavailable, message: "this node has no store (add a store section) or it is not open yet")
        }
        return directoryStore
    }

    /// Runs a store operation; its failure as 503 (store unreachable or read-only) or 409 (change refused).
    static func storeCall<T>(_ body: () async throws(StoreError) -> T) async throws -> T {
        do {
            return try await body()
        } catch {
            throw HTTPError(
                error.code == .unreachable || error.code == .readOnly ? .serviceUnavailable : .conflict, message: error.description)
        }
    }

    static func add(
        to api: RouterGroup<BasicRequestContext>, store: StateStore, directory: @escaping @Sendable () async -> DirectoryStore?,
        logger: Logger
    ) {
        @Sendable func open() async throws -> DirectoryStore { try await openStore(directory) }
        api.get("history") { request, _ -> Response in
            let directoryStore = try await open()
            let subject = request.uri.queryParameters.get("subject")
            let limit = request.uri.queryParameters.get("limit", as: Int.self) ?? 50
            let entries = try await storeCall { () throws(StoreError) in
                try await directoryStore.history(subject: subject, limit: min(limit, 1000))
            }
            return try AdminServer.jsonResponse(entries)
        }
        api.post("backup") { request, _ -> Response in
            let directoryStore = try await open()
            let topology = store.current.topology
            guard let folder = request.uri.queryParameters.get("to") ?? topology.backup?.folder else {
                throw HTTPError(.badRequest, message: "no backup folder: add backup: {folder: ...} to the config, or pass ?to=FOLDER")
            }
            do {
                let (path, backup) = try await directoryStore.backup(into: folder, realm: topology.store?.realm ?? "")
                logger.notice("directory backed up", metadata: ["file": "\(path)", "revision": "\(backup.directory.revision)"])
                return try AdminServer.jsonResponse(
                    ["file": path, "users": "\(backup.directory.usersByURI.count)", "databases": "\(backup.directory.databases.count)",
                     "revision": "\(backup.directory.revision)"])
            } catch {
                throw HTTPError(.serviceUnavailable, message: "backup failed: \(error)")
            }
        }
        api.post("restore") { request, _ -> Response in
            let directoryStore = try await open()
            let topology = store.current.topology
            var file = request.uri.queryParameters.get("file")
            if file == nil, request.uri.queryParameters.get("latest") == "true", let folder = topology.backup?.folder {
                file = DirectoryBackup.files(in: folder).first
            }
            guard let file, FileManager.default.isReadableFile(atPath: file) else {
                throw HTTPError(.badRequest, message: "name a readable backup file on the node: ?file=PATH, or ?latest=true")
            }
            let backup: DirectoryBackup
            do {
                backup = try await DirectoryBackup.load(path: file, expectedRealm: topology.store?.realm)
            } catch {
                throw HTTPError(.unprocessableContent, message: "\(file) \(error); nothing was restored")
            }
            let revision = try await storeCall { () throws(StoreError) in try await directoryStore.restore(backup, actor: "admin API") }
            logger.notice("directory restored", metadata: ["file": "\(file)", "revision": "\(revision)"])
            return try AdminServer.jsonResponse(
                ["file": file, "users": "\(backup.directory.usersByURI.count)", "databases": "\(backup.directory.databases.count)",
                 "revision": "\(revision)"])
        }
        api.get("users/:login") { _, context -> Response in
            let login = try context.parameters.require("login")
            guard let user = store.current.directory.user(login: login) else {
                throw HTTPError(.notFound, message: "no user \(login) in the directory")
            }
            return try AdminServer.jsonResponse(
                UserLine(
                    sipURI: user.sipURI, authName: user.authName, mail: user.mail, homePool: user.homePool,
                    mailboxDatabase: user.mailboxDatabase, contacts: user.contacts))
        }
        api.get("plans/latest") { _, _ -> Response in
            let directoryStore = try await open()
            guard let record = try await storeCall({ () throws(StoreError) in try await directoryStore.planRecord() }) else {
                throw HTTPError(.notFound, message: "no plan yet")
            }
            return try AdminServer.jsonResponse(PlanView(record))
        }
        api.get("plans/:id") { _, context -> Response in
            let directoryStore = try await open()
            let id = try context.parameters.require("id")
            guard let record = try await storeCall({ () throws(StoreError) in try await directoryStore.planRecord(id: id) }) else {
                throw HTTPError(.notFound, message: "no plan \(id)")
            }
            return try AdminServer.jsonResponse(PlanView(record))
        }
        @Sendable func makePlan(_ kind: String, request: Request) async throws -> Response {
            let directoryStore = try await open()
            guard let site = request.uri.queryParameters.get("site") else {
                throw HTTPError(.badRequest, message: "name the site: ?site=hq")
            }
            let snapshot = try await storeCall { () throws(StoreError) in try await directoryStore.snapshot() }
            /// A refused plan is the client's conflict, with the reason.
            func built(_ make: () throws(PlanBuilder.Refusal) -> Plan) throws -> Plan {
                do {
                    return try make()
                } catch {
                    throw HTTPError(.conflict, message: error.description)
                }
            }
            let plan: Plan
            switch kind {
            case "failover":
                plan = try built { () throws(PlanBuilder.Refusal) in
                    try PlanBuilder.failover(site: site, topology: store.current.topology, directory: snapshot)
                }
            case "failback":
                guard
                    let failover = try await storeCall({ () throws(StoreError) in
                        try await directoryStore.planRecord(kind: .failover, site: site, status: "applied")
                    })
                else { throw HTTPError(.conflict, message: "no applied failover of \(site) to come back from") }
                plan = try built { () throws(PlanBuilder.Refusal) in
                    try PlanBuilder.failback(site: site, after: failover.plan, directory: snapshot)
                }
            default:
                throw HTTPError(.notFound, message: "plans are failover or failback")
            }
            try await storeCall { () throws(StoreError) in try await directoryStore.save(plan) }
            guard let record = try await storeCall({ () throws(StoreError) in try await directoryStore.planRecord(id: plan.id) })
            else { throw HTTPError(.internalServerError) }
            return try AdminServer.jsonResponse(PlanView(record))
        }
        api.post("plans/failover") { request, _ in try await makePlan("failover", request: request) }
        api.post("plans/failback") { request, _ in try await makePlan("failback", request: request) }
        api.post("plans/:id/apply") { request, context -> Response in
            let directoryStore = try await open()
            let id = try context.parameters.require("id")
            let force = request.uri.queryParameters.get("force") == "true"
            let only = request.uri.queryParameters.get("step", as: Int.self)
            guard let record = try await storeCall({ () throws(StoreError) in try await directoryStore.planRecord(id: id) }) else {
                throw HTTPError(.notFound, message: "no plan \(id)")
            }
            let runner = PlanRunner(store: directoryStore, topology: store.current.topology, logger: logger)
            if request.uri.queryParameters.get("wait") == "true" {
                // The caller waits for the end (the CLI): the finished plan, or why a step was refused.
                do {
                    let done = try await runner.apply(record, only: only, force: force) { line in
                        logger.notice("\(line)", metadata: ["plan": "\(id)"])
                    }
                    return try AdminServer.jsonResponse(PlanView(done))
                } catch let refusal as PlanRunner.Refusal {
                    throw HTTPError(.conflict, message: refusal.description)
                } catch {
                    throw HTTPError(.serviceUnavailable, message: "\(error)")
                }
            }
            // The plan runs on; its progress is in /api/plans/latest and the node's log.
            Task {
                do {
                    _ = try await runner.apply(record, force: force) { line in logger.notice("\(line)", metadata: ["plan": "\(id)"]) }
                } catch {
                    logger.error("plan stopped", metadata: ["plan": "\(id)", "reason": "\(error)"])
                }
            }
            return Response(status: .accepted, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: "{\"applying\": \"\(id)\"}\n")))
        }
    }
}
