import BallastCore
import BallastDNS
import BallastPlans
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
            throw HTTPError(
                .serviceUnavailable, message: "this node has no store (add a store section) or it is not open yet")
        }
        return directoryStore
    }

    /// Runs a store operation; its failure as 503 (store unreachable or read-only) or 409 (change refused).
    static func storeCall<T>(_ body: () async throws(StoreError) -> T) async throws -> T {
        do {
            return try await body()
        } catch {
            throw HTTPError(
                error.code == .unreachable || error.code == .readOnly ? .serviceUnavailable : .conflict,
                message: error.description)
        }
    }

    static func add(
        to api: RouterGroup<AdminContext>, state: PublishedState,
        directory: @escaping @Sendable () async -> DirectoryStore?,
        plans: BackgroundPlans, logger: Logger
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
        api.post("backup") { _, _ -> Response in
            let directoryStore = try await open()
            let topology = state.current.topology
            // Only into the configured folder: no request names a path on the node.
            guard let folder = topology.backup?.folder else {
                throw HTTPError(.conflict, message: "no backup folder: add backup: {folder: ...} to the node's config")
            }
            do {
                let (path, backup) = try await directoryStore.backup(into: folder, realm: topology.store?.realm ?? "")
                logger.notice(
                    "directory backed up", metadata: ["file": "\(path)", "revision": "\(backup.directory.revision)"])
                return try AdminServer.jsonResponse(
                    [
                        "file": path, "users": "\(backup.directory.usersByURI.count)",
                        "databases": "\(backup.directory.databases.count)",
                        "revision": "\(backup.directory.revision)",
                    ])
            } catch {
                throw HTTPError(.serviceUnavailable, message: "backup failed: \(error)")
            }
        }
        api.post("restore") { request, _ -> Response in
            let directoryStore = try await open()
            let topology = state.current.topology
            let (file, upload) = try await restoreSource(request, folder: topology.backup?.folder)
            defer { if let upload { try? FileManager.default.removeItem(atPath: upload) } }
            let backup: DirectoryBackup
            do {
                backup = try await DirectoryBackup.load(path: upload ?? file, expectedRealm: topology.store?.realm)
            } catch {
                throw HTTPError(.unprocessableContent, message: "\(file) \(error); nothing was restored")
            }
            let revision = try await storeCall { () throws(StoreError) in
                try await directoryStore.restore(backup, actor: "admin API")
            }
            logger.notice("directory restored", metadata: ["file": "\(file)", "revision": "\(revision)"])
            return try AdminServer.jsonResponse(
                [
                    "file": file, "users": "\(backup.directory.usersByURI.count)",
                    "databases": "\(backup.directory.databases.count)",
                    "revision": "\(revision)",
                ])
        }
        api.get("users/:login") { _, context -> Response in
            let login = try context.parameters.require("login")
            guard let user = state.current.directory.user(login: login) else {
                throw HTTPError(.notFound, message: "no user \(login) in the directory")
            }
            return try AdminServer.jsonResponse(
                UserLine(
                    sipURI: user.sipURI, authName: user.authName, mail: user.mail, homePool: user.homePool,
                    mailboxDatabase: user.mailboxDatabase, contacts: user.contacts))
        }
        api.get("plans/latest") { _, _ -> Response in
            let directoryStore = try await open()
            guard let record = try await storeCall({ () throws(StoreError) in try await directoryStore.planRecord() })
            else {
                throw HTTPError(.notFound, message: "no plan yet")
            }
            return try AdminServer.jsonResponse(PlanView(record))
        }
        api.get("plans/:id") { _, context -> Response in
            let directoryStore = try await open()
            let id = try context.parameters.require("id")
            let found = try await storeCall { () throws(StoreError) in try await directoryStore.planRecord(id: id) }
            guard let record = found else { throw HTTPError(.notFound, message: "no plan \(id)") }
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
                    try PlanBuilder.failover(site: site, topology: state.current.topology, directory: snapshot)
                }
            case "failback":
                guard
                    let failover = try await storeCall({ () throws(StoreError) in
                        try await directoryStore.planRecord(kind: .failover, site: site, status: .applied)
                    })
                else { throw HTTPError(.conflict, message: "no applied failover of \(site) to come back from") }
                plan = try built { () throws(PlanBuilder.Refusal) in
                    try PlanBuilder.failback(site: site, after: failover.plan, directory: snapshot)
                }
            default:
                throw HTTPError(.notFound, message: "plans are failover or failback")
            }
            try await storeCall { () throws(StoreError) in try await directoryStore.save(plan) }
            guard
                let record = try await storeCall({ () throws(StoreError) in
                    try await directoryStore.planRecord(id: plan.id)
                })
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
            let stepDelay = Duration.milliseconds(
                request.uri.queryParameters.get("step-delay-ms", as: Int.self).map { min(max($0, 0), 60_000) } ?? 0)
            let pause = PlanRunner.pause(stepDelay)
            let found = try await storeCall { () throws(StoreError) in try await directoryStore.planRecord(id: id) }
            guard let record = found else { throw HTTPError(.notFound, message: "no plan \(id)") }
            let topology = state.current.topology
            let runner = PlanRunner(
                store: directoryStore, topology: topology, logger: logger, dnsLookup: DNSProbe.lookup(topology),
                nodeFollows: { await NodeFollow.wait(state, directoryStore) }, owner: PlanLease.processOwner("node"))
            if request.uri.queryParameters.get("wait") == "true" {
                // The caller waits for the end (the CLI): the finished plan, or why a step was refused.
                do {
                    let done = try await runner.apply(record, only: only, force: force, started: pause) { line in
                        logger.notice("\(line)", metadata: ["plan": "\(id)"])
                    }
                    return try AdminServer.jsonResponse(PlanView(done))
                } catch let refusal as PlanRunner.Refusal {
                    throw HTTPError(.conflict, message: refusal.description)
                } catch {
                    throw HTTPError(.serviceUnavailable, message: "\(error)")
                }
            }
            // The plan runs on in the node's service group; its progress is in /api/plans/latest
            // and the node's log.
            let started = plans.start {
                do {
                    _ = try await runner.apply(record, force: force, started: pause) { line in
                        logger.notice("\(line)", metadata: ["plan": "\(id)"])
                    }
                } catch {
                    logger.error("plan stopped", metadata: ["plan": "\(id)", "reason": "\(error)"])
                }
            }
            guard started else {
                throw HTTPError(.serviceUnavailable, message: "the node is stopping; apply the plan once it runs again")
            }
            return Response(
                status: .accepted, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: "{\"applying\": \"\(id)\"}\n")))
        }
    }

    /// The largest backup a client may upload for a restore.
    static let maximumUpload = 1 << 30

    /// What a restore reads: a file of the configured backup folder named by `?file=NAME` (a plain
    /// name, never a path), the folder's newest with `?latest=true`, or the request's body, which is
    /// written to a private temporary file (returned second, for removal).
    static func restoreSource(_ request: Request, folder: String?) async throws -> (file: String, upload: String?) {
        let query = request.uri.queryParameters
        if let name = query.get("file") {
            guard let folder else {
                throw HTTPError(.conflict, message: "no backup folder: add backup: {folder: ...} to the node's config")
            }
            guard DirectoryBackup.isPlainFileName(name) else {
                throw HTTPError(.badRequest, message: "?file= names a file in the backup folder, without a path")
            }
            let path = (folder as NSString).appendingPathComponent(name)
            guard FileManager.default.isReadableFile(atPath: path) else {
                throw HTTPError(.notFound, message: "no readable backup \(name) in the backup folder")
            }
            return (path, nil)
        }
        if query.get("latest") == "true" {
            guard let folder, let newest = DirectoryBackup.files(in: folder).first else {
                throw HTTPError(.notFound, message: "no backup in the node's backup folder")
            }
            return (newest, nil)
        }
        guard request.headers[.contentLength].flatMap(Int.init).map({ $0 > 0 }) ?? true else {
            throw HTTPError(
                .badRequest, message: "send the backup file as the body, or name one: ?file=NAME or ?latest=true")
        }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ballast-restore-\(UUID().uuidString)")
            .path
        guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]),
            let handle = FileHandle(forWritingAtPath: path)
        else { throw HTTPError(.internalServerError, message: "cannot write a temporary file for the upload") }
        var written = 0
        do {
            defer { try? handle.close() }
            for try await chunk in request.body {
                written += chunk.readableBytes
                guard written <= maximumUpload else {
                    throw HTTPError(.contentTooLarge, message: "a backup upload is at most \(maximumUpload >> 20) MiB")
                }
                try handle.write(contentsOf: chunk.readableBytesView)
            }
        } catch {
            try? FileManager.default.removeItem(atPath: path)
            throw error
        }
        guard written > 0 else {
            try? FileManager.default.removeItem(atPath: path)
            throw HTTPError(
                .badRequest, message: "send the backup file as the body, or name one: ?file=NAME or ?latest=true")
        }
        return ("upload", path)
    }
}
