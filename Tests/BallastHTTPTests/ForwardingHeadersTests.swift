@testable import BallastHTTP
import BallastCore
import NIOHTTP1
import Testing

@Suite struct ForwardingHeadersTests {
    let client = ForwardingHeaders.Client(
        address: IPAddress("192.0.2.1")!, isTLS: true, relayAddress: Endpoint("10.0.0.1:443"))

    func rewrite(_ headers: [(String, String)], _ settings: HTTPSettings = HTTPSettings(), cookie: String? = nil, upgrade: Bool = false)
        -> HTTPHeaders
    {
        ForwardingHeaders.rewrite(HTTPHeaders(headers), settings: settings, client: client, cookieName: cookie, upgrade: upgrade)
    }

    @Test func defaultsAddForAndReplaceProto() {
        let out = rewrite([("X-Forwarded-For", "203.0.113.9"), ("X-Forwarded-Proto", "http")])
        #expect(out["x-forwarded-for"] == ["203.0.113.9, 192.0.2.1"])
        #expect(out["x-forwarded-proto"] == ["https"])
        #expect(out["forwarded"].isEmpty)
    }

    @Test func replaceDropsWhatTheClientClaimed() {
        var settings = HTTPSettings()
        settings.xForwardedFor = .replace
        settings.forwarded = .replace
        let out = rewrite([("X-Forwarded-For", "203.0.113.9"), ("Forwarded", "for=evil"), ("Host", "example.com")], settings)
        #expect(out["x-forwarded-for"] == ["192.0.2.1"])
        #expect(out["forwarded"] == ["for=192.0.2.1;by=10.0.0.1;proto=https;host=example.com"])
    }

    @Test func noneLeavesHeadersAlone() {
        var settings = HTTPSettings()
        settings.xForwardedFor = .none
        settings.xForwardedProto = .none
        let out = rewrite([("X-Forwarded-For", "203.0.113.9")], settings)
        #expect(out["x-forwarded-for"] == ["203.0.113.9"])
        #expect(out["x-forwarded-proto"].isEmpty)
    }

    @Test func hopByHopHeadersAndThoseConnectionNamesGo() {
        let out = rewrite([
            ("Connection", "keep-alive, X-Secret"), ("Keep-Alive", "timeout=5"), ("X-Secret", "1"), ("TE", "trailers"),
            ("Content-Length", "3"), ("Upgrade", "websocket"),
        ])
        for name in ["connection", "keep-alive", "x-secret", "te", "upgrade"] { #expect(!out.contains(name: name)) }
        #expect(out["content-length"] == ["3"])
    }

    @Test func anUpgradeKeepsUpgradeAndConnection() {
        let out = rewrite([("Connection", "Upgrade"), ("Upgrade", "websocket")], upgrade: true)
        #expect(out["upgrade"] == ["websocket"])
        #expect(out["connection"] == ["upgrade"])
    }

    @Test func ballastsCookieIsTakenOut() {
        let out = rewrite([("Cookie", "a=1; LB=xyz"), ("Cookie", "LB=2")], cookie: "LB")
        #expect(out["cookie"] == ["a=1"])
    }

    @Test func ipv6NodesAreQuoted() {
        #expect(ForwardingHeaders.forwardedNode(IPAddress("2001:db8::1")!) == "\"[2001:db8::1]\"")
    }

    @Test func certificatesAreChosenByName() {
        let names = [["one.test", "www.one.test"], ["*.two.test"], ["three.test"]]
        #expect(CertificateSelector.index(for: "www.one.test", names: names) == 0)
        #expect(CertificateSelector.index(for: "api.two.test", names: names) == 1)
        #expect(CertificateSelector.index(for: "THREE.test", names: names) == 2)
        #expect(CertificateSelector.index(for: "a.b.two.test", names: names) == nil)
        #expect(CertificateSelector.index(for: "two.test", names: names) == nil)
        #expect(CertificateSelector.index(for: nil, names: names) == nil)
    }
}
