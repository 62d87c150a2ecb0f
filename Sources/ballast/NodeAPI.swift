import ArgumentParser
import BallastAdmin
import BallastConfig
import BallastCore
import Foundation
import NIOHTTP1

/// A running node's admin API, for the commands that change the directory through the node
/// (so that the node's log and metrics see them); they work on the store directly when no node
/// answers, or with `--direct`.
struct NodeAPI {
    let endpoint: Endpoint
    let token: String?

    /// The admin API of the node the config at `path` describes, when one answers now.
    static func reach(config path: String) async -> NodeAPI? {
        guard let topology = try? ConfigLoader.load(path: path), let admin = topology.admin,
            let (status, _) = try? await AdminClient.request(
                .GET, path: "/healthz", endpoint: admin.listen, token: nil),
            status == 200
        else { return nil }
        return NodeAPI(
            endpoint: admin.listen, token: ProcessInfo.processInfo.environment["BALLAST_TOKEN"] ?? admin.token)
    }

    /// Sends a request whose answer is a plan; exits 1 with the node's reason otherwise.
    func plan(_ method: HTTPMethod, _ path: String) async throws -> PlanView {
        let (status, body) = try await AdminClient.request(method, path: path, endpoint: endpoint, token: token)
        guard status == 200, let view = try? JSONDecoder().decode(PlanView.self, from: Data(body.utf8)) else {
            printError("error: the node at \(endpoint) answered \(status): \(Self.reason(body))")
            throw ExitCode(1)
        }
        return view
    }

    /// Sends a request whose answer is a flat JSON object of strings; exits 1 with the node's reason otherwise.
    func fields(_ method: HTTPMethod, _ path: String, body: String? = nil) async throws -> [String: String] {
        try await fields(method, path, bytes: body.map { Array($0.utf8) })
    }

    /// As `fields`, with a body of raw bytes.
    func fields(_ method: HTTPMethod, _ path: String, bytes: [UInt8]?) async throws -> [String: String] {
        let (status, body) = try await AdminClient.request(
            method, path: path, endpoint: endpoint, token: token, bytes: bytes)
        guard status == 200, let fields = try? JSONDecoder().decode([String: String].self, from: Data(body.utf8)) else {
            printError("error: the node at \(endpoint) answered \(status): \(Self.reason(body))")
            throw ExitCode(1)
        }
        return fields
    }

    /// The message of an error body (`{"error": {"message": ...}}`), else the body as it came.
    static func reason(_ body: String) -> String {
        struct Failure: Decodable {
            struct Inner: Decodable { var message: String }
            var error: Inner
        }
        if let failure = try? JSONDecoder().decode(Failure.self, from: Data(body.utf8)) { return failure.error.message }
        return body.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `?by=` naming who runs the command, for the directory's history.
    static var actorQuery: String { "by=" + query(StoreAccess.actor) }

    /// `value` with the characters a query string must escape escaped.
    static func query(_ value: String) -> String {
        value.addingPercentEncoding(
            withAllowedCharacters: .urlQueryAllowed.subtracting(CharacterSet(charactersIn: "&=+"))) ?? value
    }

    /// Prints a plan as the node gave it.
    static func print(_ view: PlanView, via endpoint: Endpoint) {
        Swift.print(
            "plan \(view.id) (\(view.kind) of site \(view.site)): \(view.status), through the admin API at \(endpoint)")
        for step in view.steps {
            var line = "  \(step.number). \(step.summary)  [\(step.status)"
            if let finished = step.finishedAt { line += " \(finished)" }
            if !step.result.isEmpty { line += ": \(step.result)" }
            Swift.print(line + "]")
        }
    }
}
