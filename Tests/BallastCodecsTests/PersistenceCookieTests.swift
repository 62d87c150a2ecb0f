import BallastCodecs
import BallastCore
import Testing

@Suite struct PersistenceCookieTests {
    let servers = ["web1", "web2", "10.0.0.5"].map { ServerKey(pool: "pool", server: $0) }

    @Test func valuesNameEachServerOpaquely() {
        let signer = PersistenceCookie(secret: "a-secret-of-enough-length", relay: "web")
        let values = servers.map(signer.value(for:))
        #expect(Set(values).count == servers.count)
        for value in values {
            #expect(value.count == 24)
            #expect(!value.contains("web") && !value.contains("10.0.0.5") && !value.contains("pool"))
            #expect(
                value.utf8.allSatisfy {
                    $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || ($0 >= 0x30 && $0 <= 0x7A)
                })
        }
        let table = signer.table(for: servers)
        for server in servers { #expect(table[signer.value(for: server)] == server) }
    }

    @Test func anotherKeyOrRelayMakesEveryValueStale() {
        let signer = PersistenceCookie(secret: "a-secret-of-enough-length", relay: "web")
        let rotated = PersistenceCookie(secret: "another-secret-entirely", relay: "web")
        let otherRelay = PersistenceCookie(secret: "a-secret-of-enough-length", relay: "mail")
        let table = signer.table(for: servers)
        for server in servers {
            #expect(table[rotated.value(for: server)] == nil)
            #expect(table[otherRelay.value(for: server)] == nil)
        }
    }

    @Test func cookieHeaderFindsTheNamedCookie() {
        #expect(CookieHeader.value(named: "LB", in: "a=1; LB=xyz; b=2") == "xyz")
        #expect(CookieHeader.value(named: "LB", in: "LB=\"quoted\"") == "quoted")
        #expect(CookieHeader.value(named: "LB", in: "  LB = spaced ;") == "spaced")
        #expect(CookieHeader.value(named: "LB", in: "XLB=1; LBX=2") == nil)
        #expect(CookieHeader.value(named: "LB", in: "LB=bad value") == nil)
        #expect(CookieHeader.value(named: "LB", in: "LB=" + String(repeating: "a", count: 300)) == nil)
        #expect(CookieHeader.value(named: "LB", in: "") == nil)
        #expect(CookieHeader.value(named: "LB", in: ";;;=;LB") == nil)
    }

    @Test func cookieHeaderRemovesOnlyTheNamedCookie() {
        #expect(CookieHeader.removing(named: "LB", from: "a=1; LB=xyz; b=2") == "a=1; b=2")
        #expect(CookieHeader.removing(named: "LB", from: "LB=xyz") == nil)
        #expect(CookieHeader.removing(named: "LB", from: "LBX=1") == "LBX=1")
    }

    @Test func setCookieCarriesTheConfiguredAttributes() {
        var settings = CookiePersistence(
            name: "LB", key: "k", secure: true, httpOnly: true, sameSite: .unrestricted, path: "/app")
        #expect(
            CookieHeader.setCookie(value: "v", settings: settings) == "LB=v; Path=/app; HttpOnly; Secure; SameSite=None"
        )
        settings.secure = false
        settings.httpOnly = false
        settings.sameSite = nil
        #expect(CookieHeader.setCookie(value: "v", settings: settings) == "LB=v; Path=/app")
    }

    @Test func randomHeadersNeverCrashOrYieldForeignBytes() {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("LB=;\" \t,abc\u{0}\u{7f}é=;".unicodeScalars)
        for _ in 0..<5000 {
            let length = Int.random(in: 0..<64, using: &generator)
            let text = String(
                String.UnicodeScalarView((0..<length).map { _ in alphabet.randomElement(using: &generator)! }))
            if let value = CookieHeader.value(named: "LB", in: text) {
                #expect(!value.contains(";") && !value.contains(" ") && !value.contains("\""))
            }
            _ = CookieHeader.removing(named: "LB", from: text)
        }
    }
}
