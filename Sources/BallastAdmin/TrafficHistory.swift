public import BallastCore

/// The node's traffic over the last minutes as per-second rates, one series per relay, pool, DNS
/// and SIP measure: what the dashboard plots. Fed once a second with running totals (counters
/// that only grow); a total that falls (a relay replaced by a reload) starts again from there.
public struct TrafficHistory: Sendable, Equatable {
    /// One plotted line: what it belongs to and what it counts.
    public struct Key: Hashable, Sendable, Codable, Comparable {
        /// `relay web`, `pool pool-hq`, `dns`, `sip`.
        public var group: String
        /// `requests/s`, `connections/s`, `errors/s`...
        public var measure: String

        public init(_ group: String, _ measure: String) {
            self.group = group
            self.measure = measure
        }

        public static func < (a: Key, b: Key) -> Bool { (a.group, a.measure) < (b.group, b.measure) }
    }

    /// How many seconds are kept.
    public let capacity: Int
    private var lastTotals: [Key: Double] = [:]
    /// Rates per key, oldest first, at most `capacity`; every series has the same length.
    public private(set) var rates: [Key: [Double]] = [:]
    /// Seconds recorded so far (at most `capacity`).
    public private(set) var length = 0

    /// A history keeping `capacity` seconds (five minutes by default).
    public init(capacity: Int = 300) {
        self.capacity = max(1, capacity)
    }

    /// Records the totals one second after the previous ones. A key seen for the first time
    /// gets zeros for the past; a key no longer given is dropped.
    public mutating func record(_ totals: [Key: Double]) {
        var next: [Key: [Double]] = [:]
        for (key, total) in totals {
            let previous = lastTotals[key]
            let rate = previous.map { total >= $0 ? total - $0 : total } ?? 0
            var series = rates[key] ?? Array(repeating: 0, count: length)
            series.append(rate)
            if series.count > capacity { series.removeFirst(series.count - capacity) }
            next[key] = series
        }
        rates = next
        lastTotals = totals
        length = min(length + 1, capacity)
    }

    /// The running totals a node's traffic is made of, from its Prometheus page (`metrics`, the
    /// exposition text) for the relays named in `state`'s topology; a pool's are those of the
    /// relays that forward to it (pools used only by DNS or SIP carry no relayed traffic).
    public static func totals(metrics: String, state: State) -> [Key: Double] {
        let samples = PrometheusText.samples(metrics)
        func sum(_ name: String, _ labels: [String: String] = [:]) -> Double {
            samples.reduce(0) { total, sample in
                guard sample.name == name, labels.allSatisfy({ sample.labels[$0.key] == $0.value }) else {
                    return total
                }
                return total + sample.value
            }
        }
        var totals: [Key: Double] = [:]
        // Per pool, what its relays carry to it: connections, requests or logins, and errors.
        var poolTotals: [String: (traffic: Double, errors: Double)] = [:]
        for relay in state.topology.relays {
            let group = "relay \(relay.name)"
            let on = ["relay": relay.name]
            let measure: String
            let traffic: Double
            let errors: Double
            if relay.protocol.isMail {
                measure = "logins/s"
                traffic = sum("ballast_mail_logins_total", ["relay": relay.name, "result": "ok"])
                errors = sum("ballast_mail_logins_total", ["relay": relay.name, "result": "refused"])
            } else if relay.protocol.isHTTP {
                measure = "requests/s"
                traffic = sum("ballast_http_requests_total", on)
                errors =
                    sum("ballast_http_server_failures_total", on) + sum("ballast_http_no_server_total", on)
                    + sum("ballast_http_bad_requests_total", on)
            } else {
                measure = "connections/s"
                traffic = sum("ballast_relay_connections_total", on)
                errors =
                    sum("ballast_relay_connect_failures_total", on) + sum("ballast_relay_no_server_total", on)
                    + sum("ballast_relay_limit_reached_total", on)
            }
            totals[Key(group, measure)] = traffic
            totals[Key(group, "errors/s")] = errors
            let before = poolTotals[relay.pool] ?? (0, 0)
            poolTotals[relay.pool] = (before.traffic + traffic, before.errors + errors)
        }
        for (pool, carried) in poolTotals {
            totals[Key("pool \(pool)", "relayed/s")] = carried.traffic
            totals[Key("pool \(pool)", "errors/s")] = carried.errors
        }
        if !state.topology.dns.listeners.isEmpty {
            totals[Key("dns", "queries/s")] = sum("ballast_dns_queries_total")
            totals[Key("dns", "errors/s")] = sum("ballast_dns_malformed_total") + sum("ballast_dns_rate_limited_total")
        }
        if state.topology.sip != nil {
            totals[Key("sip", "requests/s")] = sum("ballast_sip_responses_total")
            totals[Key("sip", "errors/s")] = sum("ballast_sip_auth_failures_total") + sum("ballast_sip_malformed_total")
        }
        return totals
    }
}

/// Reads the Prometheus text exposition format: one sample per line, `name{label="value",...} value`.
enum PrometheusText {
    struct Sample: Equatable {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    /// The samples in `text`; comments and lines that do not parse are skipped.
    static func samples(_ text: String) -> [Sample] {
        text.split(separator: "\n").compactMap { line -> Sample? in
            guard !line.hasPrefix("#"), let space = line.lastIndex(of: " "),
                let value = Double(line[line.index(after: space)...])
            else {
                return nil
            }
            let series = line[..<space]
            guard let brace = series.firstIndex(of: "{") else {
                return Sample(name: String(series), labels: [:], value: value)
            }
            guard series.last == "}" else { return nil }
            let name = String(series[..<brace])
            var labels: [String: String] = [:]
            var rest = series[series.index(after: brace)..<series.index(before: series.endIndex)]
            while let equals = rest.firstIndex(of: "=") {
                let key = rest[..<equals].trimmingPrefix(",")
                var index = rest.index(after: equals)
                guard index < rest.endIndex, rest[index] == "\"" else { return nil }
                index = rest.index(after: index)
                var value = ""
                while index < rest.endIndex, rest[index] != "\"" {
                    if rest[index] == "\\", rest.index(after: index) < rest.endIndex {
                        index = rest.index(after: index)
                    }
                    value.append(rest[index])
                    index = rest.index(after: index)
                }
                guard index < rest.endIndex else { return nil }
                labels[String(key)] = value
                rest = rest[rest.index(after: index)...]
            }
            return Sample(name: name, labels: labels, value: value)
        }
    }
}
