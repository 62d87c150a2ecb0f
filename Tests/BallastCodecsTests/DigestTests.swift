import BallastCodecs
import BallastCore
import Testing

/// Digest arithmetic against the RFC 7616 section 3.9.1 example, and signed nonces.
struct DigestTests {
    @Test func matchesTheRFC7616Example() {
        let realm = "http-auth@example.org"
        let nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
        let cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
        let expected: [DigestAlgorithm: String] = [
            .md5: "8ca523f5e9506fed4657c9700eebdbec",
            .sha256: "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
        ]
        for algorithm in DigestAlgorithm.allCases {
            let ha1 = Digest.ha1(username: "Mufasa", realm: realm, password: "Circle of Life", algorithm: algorithm)
            let response = Digest.expectedResponse(
                ha1: ha1, method: "GET", uri: "/dir/index.html", nonce: nonce, nc: "00000001", cnonce: cnonce,
                qop: "auth", algorithm: algorithm)
            #expect(response == expected[algorithm], "\(algorithm)")
        }
    }

    @Test func withoutQopTheRFC2069FormIsUsed() {
        let ha1 = Digest.hash("u:r:p", .md5)
        let ha2 = Digest.hash("REGISTER:sip:r", .md5)
        let response = Digest.expectedResponse(
            ha1: ha1, method: "REGISTER", uri: "sip:r", nonce: "n", nc: nil, cnonce: nil, qop: nil, algorithm: .md5)
        #expect(response == Digest.hash("\(ha1):n:\(ha2)", .md5))
    }

    @Test func noncesAreFreshThenStaleAndForgeriesFail() {
        let signer = NonceSigner(key: Array(repeating: 7, count: 32))
        let nonce = signer.issue(now: 1_000_000)
        #expect(nonce.utf8.count == 64)
        #expect(signer.verify(nonce, now: 1_000_500, lifetime: 1000) == .fresh(issuedAt: 1_000_000))
        #expect(signer.verify(nonce, now: 1_002_000, lifetime: 1000) == .stale)
        #expect(
            NonceSigner(key: Array(repeating: 8, count: 32)).verify(nonce, now: 1_000_500, lifetime: 1000) == .forged)
        var altered = Array(nonce.utf8)
        altered[3] = altered[3] == UInt8(ascii: "0") ? UInt8(ascii: "1") : UInt8(ascii: "0")
        #expect(signer.verify(String(decoding: altered, as: UTF8.self), now: 1_000_500, lifetime: 1000) == .forged)
        for bad in ["", "zz", String(repeating: "g", count: 64), String(nonce.dropLast())] {
            #expect(signer.verify(bad, now: 1_000_500, lifetime: 1000) == .forged)
        }
        #expect(signer.issue(now: 1) != signer.issue(now: 1))
        // A nonce is good for the algorithm it was issued for only.
        let strong = signer.issue(now: 1_000_000, algorithm: .sha256)
        #expect(
            signer.verify(strong, algorithm: .sha256, now: 1_000_500, lifetime: 1000) == .fresh(issuedAt: 1_000_000))
        #expect(signer.verify(strong, algorithm: .md5, now: 1_000_500, lifetime: 1000) == .forged)
        #expect(signer.verify(nonce, algorithm: .sha256, now: 1_000_500, lifetime: 1000) == .forged)
        #expect(Digest.constantTimeEqual("abc", "abc"))
        #expect(!Digest.constantTimeEqual("abc", "abd"))
        #expect(!Digest.constantTimeEqual("abc", "ab"))
    }
}
