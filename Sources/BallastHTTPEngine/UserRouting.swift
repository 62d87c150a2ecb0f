import BallastCodecs
import BallastCore
import BallastEngine
import BallastReporting
import CoreMetrics
import Logging

extension EngineHTTPRuntime {
    /// Where a request of a relay that routes by user goes, or Ballast's refusal.
    enum UserRoute {
        case server(ServerKey, Server)
        /// `delay` in milliseconds: the failure delay after a wrong password.
        case refuse(status: Int, headers: String, delay: UInt64)
    }

    /// Finds the request's user (Basic credentials checked against the directory, or a header a
    /// front has set) and the server holding their mailbox's active copy.
    func route(
        byUser routing: HTTPSettings.UserRouting, bytes: UnsafeRawBufferPointer, head: HTTP1Head, client: IPAddress,
        state: State, relay: Relay
    ) -> UserRoute {
        let realm = UserLogin.realm(in: state) ?? "ballast"
        let challenge = "WWW-Authenticate: Basic realm=\"\(realm)\", charset=\"UTF-8\"\r\n"
        switch routing {
        case .basic:
            guard let header = Self.field("authorization", in: bytes, head: head),
                let credentials = DirectoryLogin.basicCredentials(header)
            else {
                return .refuse(status: 401, headers: challenge, delay: 0)
            }
            let now = ContinuousClock.now
            switch UserLogin.decide(
                login: credentials.user, password: credentials.password, source: client, pool: relay.pool, state: state,
                throttle: throttle, now: now)
            {
            case .routed(_, let route):
                return .server(route.key, route.server)
            case .throttled(let until, let reason, _):
                metrics.throttled.increment()
                BadInputLog.shared.report(
                    listener: relay.name, reason: "login refused: \(reason.rawValue)", client: "\(client)",
                    logger: logger, detail: "login \(credentials.user)")
                return .refuse(
                    status: 429, headers: "Retry-After: \(max(1, (until - now).components.seconds))\r\n", delay: 0)
            case .refused(let delay):
                BadInputLog.shared.report(
                    listener: relay.name, reason: "login refused: unknown user or wrong password", client: "\(client)",
                    logger: logger, detail: "login \(credentials.user)")
                return .refuse(status: 401, headers: challenge, delay: delay.milliseconds)
            case .unroutable(_, let failure):
                return notRouted(failure, relay: relay)
            }
        case .header(let name):
            guard let login = Self.field(name.lowercased(), in: bytes, head: head),
                let user = state.directory.user(login: login)
            else {
                BadInputLog.shared.report(
                    listener: relay.name, reason: "request without a known user in \(name)", client: "\(client)",
                    logger: logger)
                return .refuse(status: 403, headers: "", delay: 0)
            }
            switch MailRouting.server(for: user, pool: relay.pool, in: state) {
            case .success(let route): return .server(route.key, route.server)
            case .failure(let failure): return notRouted(failure, relay: relay)
            }
        }
    }

    /// The user's mailbox cannot be reached now: 503, and the reason in the log.
    private func notRouted(_ failure: MailRouting.Failure, relay: Relay) -> UserRoute {
        logger.warning("http request not routed", metadata: ["relay": "\(relay.name)", "reason": "\(failure)"])
        return .refuse(status: 503, headers: "", delay: 0)
    }

    /// The value of the first field named `name` (lowercase), as text.
    private static func field(_ name: String, in bytes: UnsafeRawBufferPointer, head: HTTP1Head) -> String? {
        let wanted = Array(name.utf8)
        for field in head.fields where field.name.count == wanted.count {
            var index = 0
            while index < wanted.count, bytes[field.name.lowerBound + index] | 0x20 == wanted[index] | 0x20 {
                index += 1
            }
            if index == wanted.count { return String(decoding: bytes[field.value], as: UTF8.self) }
        }
        return nil
    }

}
