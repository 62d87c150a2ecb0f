import CoreMetrics
import Metrics

/// The SIP edge's metrics, created once.
struct SIPMetrics: Sendable {
    let registrations = Counter(label: "ballast_sip_registrations_total")
    let redirects = Counter(label: "ballast_sip_redirects_total")
    let challenges = Counter(label: "ballast_sip_challenges_total")
    let authFailures = Counter(label: "ballast_sip_auth_failures_total")
    let throttled = Counter(label: "ballast_login_throttled_total", dimensions: [("protocol", "sip")])
    let malformed = Counter(label: "ballast_sip_malformed_total")
    let bindings = Gauge(label: "ballast_sip_bindings")
    let lostPools = Gauge(label: "ballast_sip_lost_pools")

    /// Responses by method (REGISTER, OPTIONS, other) and status, created up front so that
    /// counting takes no lock and builds no string.
    private let responses: [[Int: Counter]] = ["REGISTER", "OPTIONS", "other"].map { method in
        var table: [Int: Counter] = [:]
        for status in [200, 301, 400, 401, 403, 404, 405, 423, 480, 483, 500, 503, 505] {
            table[status] = Counter(
                label: "ballast_sip_responses_total", dimensions: [("method", method), ("status", "\(status)")])
        }
        return table
    }

    func count(method: String, status: Int) {
        let index = method == "REGISTER" ? 0 : method == "OPTIONS" ? 1 : 2
        responses[index][status]?.increment()
    }
}
