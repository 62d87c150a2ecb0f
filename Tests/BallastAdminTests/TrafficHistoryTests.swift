import BallastCore
import Testing

@testable import BallastAdmin

@Suite struct TrafficHistoryTests {
    @Test func ratesArePerSecondDifferencesAndAResetStartsAgain() {
        var history = TrafficHistory(capacity: 4)
        let key = TrafficHistory.Key("relay web", "requests/s")
        for total in [10.0, 15, 15, 40, 3, 9] { history.record([key: total]) }
        // First sample has no predecessor (0); a total that falls counts from zero.
        #expect(history.rates[key] == [0, 25, 3, 6])
        #expect(history.length == 4)
    }

    @Test func aNewSeriesIsPaddedAndAGoneOneDropped() {
        var history = TrafficHistory(capacity: 10)
        let a = TrafficHistory.Key("relay a", "connections/s"), b = TrafficHistory.Key("relay b", "connections/s")
        history.record([a: 1])
        history.record([a: 3])
        history.record([a: 4, b: 100])
        #expect(history.rates[b] == [0, 0, 0])
        #expect(history.rates[a] == [0, 2, 1])
        history.record([b: 101])
        #expect(history.rates[a] == nil && history.rates[b] == [0, 0, 0, 1])
    }

    @Test func prometheusTextIsRead() {
        let text = """
            # HELP ballast_http_requests_total HTTP requests relayed to a server, by relay.
            # TYPE ballast_http_requests_total counter
            ballast_http_requests_total{relay="web"} 12
            ballast_http_requests_total{relay="o\\"dd",other="x"} 3
            ballast_dns_queries_total{transport="udp"} 7.5
            ballast_sip_bindings 4
            broken{relay="x" 5
            nonsense
            """
        let samples = PrometheusText.samples(text)
        #expect(
            samples == [
                .init(name: "ballast_http_requests_total", labels: ["relay": "web"], value: 12),
                .init(name: "ballast_http_requests_total", labels: ["relay": "o\"dd", "other": "x"], value: 3),
                .init(name: "ballast_dns_queries_total", labels: ["transport": "udp"], value: 7.5),
                .init(name: "ballast_sip_bindings", labels: [:], value: 4),
            ])
        for garbage in [
            "{}", "a{b=} 1", "a{b=\"c} 1", "a{=\"\"} 1", "\u{0}{\"", String(repeating: "{", count: 100) + " 1",
        ] {
            _ = PrometheusText.samples(garbage)
        }
    }

    @Test func totalsFollowTheTopologysRelaysPoolsDNSAndSIP() {
        let server = Server(name: "a", address: IPAddress(v4: 127, 0, 0, 1), port: 80)
        var topology = Topology(
            pools: [Pool(name: "web", servers: [server])],
            relays: [
                Relay(name: "front", listen: Endpoint(address: IPAddress(v4: 127, 0, 0, 1), port: 8080), pool: "web"),
                Relay(
                    name: "mail", listen: Endpoint(address: IPAddress(v4: 127, 0, 0, 1), port: 143),
                    kind: .mail(MailSettings(dialect: .imap)),
                    pool: "web"),
            ])
        topology.dns.listeners = [Endpoint(address: IPAddress(v4: 127, 0, 0, 1), port: 53)]
        let state = PublishedState(topology: topology).current
        let text = """
            ballast_relay_connections_total{relay="front"} 20
            ballast_relay_connect_failures_total{relay="front"} 2
            ballast_mail_logins_total{relay="mail",result="ok"} 5
            ballast_mail_logins_total{relay="mail",result="refused"} 1
            ballast_dns_queries_total{transport="udp"} 7
            ballast_dns_queries_total{transport="tcp"} 3
            """
        let totals = TrafficHistory.totals(metrics: text, state: state)
        #expect(totals[TrafficHistory.Key("relay front", "connections/s")] == 20)
        #expect(totals[TrafficHistory.Key("relay front", "errors/s")] == 2)
        #expect(totals[TrafficHistory.Key("relay mail", "logins/s")] == 5)
        #expect(totals[TrafficHistory.Key("relay mail", "errors/s")] == 1)
        #expect(totals[TrafficHistory.Key("pool web", "relayed/s")] == 25)
        #expect(totals[TrafficHistory.Key("pool web", "errors/s")] == 3)
        #expect(totals[TrafficHistory.Key("dns", "queries/s")] == 10)
        #expect(totals[TrafficHistory.Key("sip", "requests/s")] == nil)
    }
}
