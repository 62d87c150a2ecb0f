import BallastConfig
import BallastCore
import Foundation
import Testing

/// The keys only http and https relays take, and the errors their misuse gets.
@Suite struct HTTPRelayConfigTests {
    func errors(_ yaml: String, file: String = "/nonexistent/test.yaml") -> [ConfigError] {
        ConfigText.errors(yaml, file: file)
    }

    func relay(_ lines: String) -> String { ConfigText.relay(lines) }

    @Test func anHTTPRelayReadsEverySetting() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ballast-config-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        for name in ["web.pem", "web.key", "ca.pem"] {
            try "x".write(to: folder.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        let yaml = relay(
            """
                protocol: https
                certificates: [{certificate: web.pem, key: web.key}]
                server-tls: {ca-file: ca.pem, server-name: pool.example.com}
                persistence: {type: cookie, name: FE, key: sixteen-chars-at-least, secure: true, same-site: None}
                forwarded: {x-forwarded-for: replace, x-forwarded-proto: none, forwarded: add}
                max-header-size: 8192
                timeouts: {request: 5s, server: 30s, server-idle: 10s, idle: 30m, handshake: 3s}
            """)
        let topology = try ConfigLoader.parse(yaml: yaml, file: folder.appendingPathComponent("b.yaml").path)
        let front = try #require(topology.relay(named: "front"))
        #expect(front.protocol == .https)
        #expect(
            front.http?.certificates == [
                HTTPSettings.Certificate(
                    certificateFile: folder.appendingPathComponent("web.pem").path,
                    keyFile: folder.appendingPathComponent("web.key").path)
            ])
        #expect(front.http?.serverTLS?.verify == true)
        #expect(front.http?.serverTLS?.serverName == "pool.example.com")
        #expect(
            front.persistence
                == .cookie(
                    CookiePersistence(name: "FE", key: "sixteen-chars-at-least", secure: true, sameSite: .unrestricted))
        )
        let http = try #require(front.http)
        #expect(http.xForwardedFor == .replace && http.xForwardedProto == .none && http.forwarded == .add)
        #expect(front.http?.maxHeaderBytes == 8192)
        #expect(
            front.http?.timeouts
                == HTTPSettings.Timeouts(
                    request: .seconds(5), server: .seconds(30), serverIdle: .seconds(10), handshake: .seconds(3)))
    }

    @Test func serverTLSTrueVerifiesAgainstTheSystemStore() throws {
        let topology = try ConfigLoader.parse(yaml: relay("    protocol: http\n    server-tls: true"), file: "t.yaml")
        #expect(topology.relay(named: "front")?.http?.serverTLS == HTTPSettings.ServerTLS(verify: true))
    }

    @Test func httpKeysOnATCPRelayAreRefused() {
        let keys = errors(
            relay(
                """
                    certificates: [{certificate: a, key: b}]
                    forwarded: {x-forwarded-for: add}
                    persistence: {type: cookie, key: sixteen-chars-at-least}
                    timeouts: {request: 5s}
                """)
        ).map(\.key)
        #expect(keys.contains("relays.front.certificates"))
        #expect(keys.contains("relays.front.forwarded"))
        #expect(keys.contains("relays.front.persistence"))
        #expect(keys.contains("relays.front.timeouts.request"))
    }

    @Test func anHTTPSRelayNeedsReadableCertificates() {
        let missing = errors(relay("    protocol: https"))
        #expect(missing.map(\.key) == ["relays.front.certificates"])
        #expect(missing.first?.expected?.contains("certificate:") == true)
        let unreadable = errors(
            relay("    protocol: https\n    certificates: [{certificate: nope.pem, key: nope.key}]"))
        #expect(
            unreadable.map(\.key).sorted() == [
                "relays.front.certificates[0].certificate", "relays.front.certificates[0].key",
            ])
        #expect(unreadable.first?.message.contains("/nonexistent/nope") == true)
        #expect(unreadable.allSatisfy { $0.line == 9 })
    }

    @Test func certificatesOnAPlainHTTPRelayAreRefused() {
        let found = errors(relay("    protocol: http\n    certificates: [{certificate: a, key: b}]"))
        #expect(found.map(\.key) == ["relays.front.certificates"])
    }

    @Test func cookiePersistenceNeedsAGoodKey() {
        #expect(
            errors(relay("    protocol: http\n    persistence: cookie")).map(\.key) == ["relays.front.persistence.key"])
        #expect(
            errors(relay("    protocol: http\n    persistence: {type: cookie}")).map(\.key) == [
                "relays.front.persistence.key"
            ])
        let short = errors(relay("    protocol: http\n    persistence: {type: cookie, key: short}"))
        #expect(short.map(\.key) == ["relays.front.persistence.key"])
        #expect(short.first?.expected == "a secret of at least 16 characters")
        let mixed = errors(
            relay("    protocol: http\n    persistence: {type: cookie, key: sixteen-chars-at-least, timeout: 5m}"))
        #expect(mixed.map(\.key) == ["relays.front.persistence.timeout"])
        let wrongSide = errors(relay("    protocol: http\n    persistence: {type: source, name: X}"))
        #expect(wrongSide.map(\.key) == ["relays.front.persistence.name"])
        let badName = errors(
            relay("    protocol: http\n    persistence: {type: cookie, key: sixteen-chars-at-least, name: \"a;b\"}"))
        #expect(badName.map(\.key) == ["relays.front.persistence.name"])
        let badSite = errors(
            relay("    protocol: http\n    persistence: {type: cookie, key: sixteen-chars-at-least, same-site: maybe}"))
        #expect(badSite.map(\.key) == ["relays.front.persistence.same-site"])
    }

    @Test func forwardedPoliciesAreChecked() {
        let found = errors(relay("    protocol: http\n    forwarded: {x-forwarded-for: append, via: add}"))
        #expect(found.map(\.key).sorted() == ["relays.front.forwarded.via", "relays.front.forwarded.x-forwarded-for"])
    }

    @Test func theEngineKeyLoadsAndTheRemovedNIORelayIsRefused() throws {
        // Configs that name the engine load; the SwiftNIO relay it replaced is refused with the way out.
        let topology = try ConfigLoader.parse(yaml: relay("    protocol: http\n    engine: ballast"), file: "t.yaml")
        #expect(topology.relay(named: "front") != nil)
        let removed = errors(relay("    protocol: http\n    engine: nio"))
        #expect(removed.map(\.key) == ["relays.front.engine"])
        #expect(removed.first?.expected == "ballast")
        #expect(removed.first?.description.contains("remove the key") == true, "\(removed)")
        let unknown = errors(relay("    protocol: http\n    engine: epoll"))
        #expect(unknown.map(\.key) == ["relays.front.engine"])
        let tls = errors(
            relay("    protocol: https\n    certificates: [{certificate: a, key: b}]\n    engine: ballast"))
        #expect(!tls.map(\.key).contains("relays.front.engine"), "TLS runs on the engine")
        #expect(errors(relay("    engine: ballast")).map(\.key) == ["relays.front.engine"])
    }
}
