import BallastAdmin
import BallastCore
import BallastTestSupport
import Foundation
import Testing

/// The admin API as an outsider meets it: every route the node serves, called with no token, a
/// wrong one, and every odd spelling of its path (`//`, `/./`, `..`, `%2F`, a trailing slash,
/// mixed case), must answer 401 or 404 and change nothing; no request picks a file path on the node.
@Suite(.serialized) struct AdminAccessTests {
    static let token = "admin-access-token"

    /// Sends one raw request (so that the path goes out exactly as written) and returns the status.
    static func status(
        port: Int, method: String, target: String, token: String?, body: String = ""
    ) throws -> Int {
        let socket = try TestSocket(port: port, timeout: .seconds(10))
        var request = "\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        if let token { request += "Authorization: Bearer \(token)\r\n" }
        request += "Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
        try socket.send(request)
        let line = try socket.readLine() ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? -1
    }

    /// Odd spellings of `path` that a lenient router might still match.
    static func variants(of path: String) -> [String] {
        let inner = path.dropFirst()
        var out = [
            path, "/" + path, "/." + path, path + "/", "/api/../" + inner, "/x/.." + path,
            path.replacingOccurrences(of: "/api/", with: "/api//"),
            path.replacingOccurrences(of: "/api/", with: "/api/./"),
            path.replacingOccurrences(of: "/api/", with: "/api%2F"),
            path.replacingOccurrences(of: "/api/", with: "/api%2f"),
            "/" + inner.replacingOccurrences(of: "/", with: "%2F"), path.uppercased(),
            path.replacingOccurrences(of: "api", with: "API"),
            "//" + inner + "/", path + "?token=\(token)",
        ]
        if path == "/" { out = ["//", "/./", "/%2F", "/.."] }
        return Array(Set(out)).sorted()
    }

    @Test func everyRouteRefusesRequestsWithoutTheTokenWhateverThePath() async throws {
        let folder = try BallastProcess.makeDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let admin = Ports.free()
        let backups = folder.appendingPathComponent("backups")
        let elsewhere = folder.appendingPathComponent("elsewhere")
        let config = """
            admin: {listen: 127.0.0.1:\(admin), token: \(Self.token)}
            sites: {hq: {hold-down: 0s}, dr: {}}
            pools:
              pool-hq: {site: hq, backup-pool: pool-dr, servers: [{name: w1, address: 127.0.0.1:\(Ports.free())}]}
              pool-dr: {site: dr, backup-pool: pool-hq, servers: [{name: w2, address: 127.0.0.1:\(Ports.free())}]}
            relays:
              front: {listen: 127.0.0.1:\(Ports.free()), pool: pool-hq}
            store: {location: \(folder.path)/directory.db, realm: contoso.com, poll-interval: 100ms}
            backup: {folder: \(backups.path)}
            """
        let users = "sip-uri,password,home-pool\\nsip:mallory@contoso.com,attacker,pool-hq\\n"
        // Every route the admin server has, taken from its own router.
        let topology = Topology.Admin(
            listen: Endpoint(address: IPAddress(v4: 127, 0, 0, 1), port: admin), token: Self.token)
        let routes = AdminServer.routes(admin: topology).map { ($0.method, Self.concrete($0.path)) }
        #expect(routes.count >= 15, "the admin router lists \(routes.count) routes")

        try await withBallast(config: config) { ballast in
            #expect(
                await eventually(timeout: .seconds(20)) {
                    (try? Self.status(port: admin, method: "GET", target: "/healthz", token: nil)) == 200
                }, "\(ballast.log)")
            var tried = 0
            for (method, path) in routes {
                let isPublic = AdminServer.publicRoutes.contains(path)
                for target in Self.variants(of: path) {
                    for token in [nil, "wrong-token", "\(Self.token)x"] as [String?] {
                        let body = path.hasSuffix("/import") ? users : ""
                        let query =
                            path.contains("failback") || path.contains("failover")
                            ? "?site=hq" : "?force=true&to=\(elsewhere.path)"
                        let sent = target.contains("?") ? target : target + query
                        let code = try Self.status(port: admin, method: method, target: sent, token: token, body: body)
                        tried += 1
                        if isPublic && target.hasPrefix(path + "?") || isPublic && target == path {
                            continue
                        }
                        #expect(
                            code == 401 || code == 404,
                            "\(method) \(sent) with token \(token ?? "none") answered \(code)")
                    }
                    // With the right token, a lenient spelling is still not the route.
                    if target != path && !target.hasPrefix(path + "?") {
                        let code = try Self.status(port: admin, method: method, target: target, token: Self.token)
                        #expect(code == 404, "\(method) \(target) with the token answered \(code)")
                    }
                }
            }
            #expect(tried > 500)

            // Nothing changed: no server drained, no plan, no user added, no file written.
            let status = try BallastProcess.run(
                executable: URL(fileURLWithPath: "/usr/bin/curl"),
                ["-s", "-H", "Authorization: Bearer \(Self.token)", "http://127.0.0.1:\(admin)/api/status"])
            #expect(!status.stdout.contains("\"drained\" : true"), "\(status.stdout)")
            #expect(try Self.status(port: admin, method: "GET", target: "/api/plans/latest", token: Self.token) == 404)
            #expect(try Self.status(port: admin, method: "GET", target: "/api/users/mallory", token: Self.token) == 404)
            #expect(!FileManager.default.fileExists(atPath: elsewhere.path))
            #expect(((try? FileManager.default.contentsOfDirectory(atPath: backups.path)) ?? []).isEmpty)

            // With the token, a backup goes only under the configured folder, whatever the request names.
            #expect(
                try Self.status(
                    port: admin, method: "POST", target: "/api/backup?to=\(elsewhere.path)", token: Self.token) == 200)
            #expect(!FileManager.default.fileExists(atPath: elsewhere.path))
            #expect(try FileManager.default.contentsOfDirectory(atPath: backups.path).count == 1)
            // A restore names a file of that folder, never a path.
            for file in ["/etc/passwd", "../directory.db", "..", ".hidden", "a/b"] {
                let code = try Self.status(
                    port: admin, method: "POST",
                    target:
                        "/api/restore?file=\(file.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? file)",
                    token: Self.token)
                #expect(code == 400 || code == 404, "restore ?file=\(file) answered \(code)")
            }
            #expect(ballast.isRunning)
            #expect(ballast.log.contains("bad input"), "refusals are logged")
        }
    }

    /// A route's path with sample values for its parameters.
    static func concrete(_ template: String) -> String {
        let samples = ["pool": "pool-hq", "server": "w1", "id": "failover-hq-r1", "login": "alice", "name": "DB01"]
        var path = template
        for (name, value) in samples {
            path = path.replacingOccurrences(of: "{\(name)}", with: value).replacingOccurrences(
                of: ":\(name)", with: value)
        }
        return path
    }
}
