import BallastCodecs
import BallastCore
import BallastDNS
import Testing

/// Response rate limiting, without a socket: per prefix and kind of answer, a bucket refilled at
/// the configured rate; past it, drops with one in `slip` truncated; exempt clients never limited.
@Suite struct ResponseRateLimiterTests {
    static let question: [UInt8] = [
        3, 119, 119, 119, 7, 99, 111, 110, 116, 111, 115, 111, 3, 99, 111, 109, 0, 0, 1, 0, 1,
    ]
    let client = IPAddress("192.0.2.10")!

    func decide(
        _ limiter: inout ResponseRateLimiter, _ client: IPAddress, _ kind: ResponseRateLimiter.Kind = .answer,
        question: [UInt8] = ResponseRateLimiterTests.question, at milliseconds: UInt64
    ) -> ResponseRateLimiter.Decision {
        question.withUnsafeBytes {
            limiter.decide(client: client, kind: kind, question: $0, milliseconds: milliseconds)
        }
    }

    @Test func aBurstOfTheRateGoesOutThenDropsAndSlipsAlternate() {
        var limiter = ResponseRateLimiter(settings: DNSRateLimit(responsesPerSecond: 5, slip: 2, exempt: []))
        let decisions = (0..<11).map { _ in decide(&limiter, client, at: 1000) }
        #expect(decisions.prefix(5).allSatisfy { $0 == .send })
        #expect(Array(decisions.dropFirst(5)) == [.drop, .slip, .drop, .slip, .drop, .slip])
        // 200 ms later one token has come back; a second later the whole burst.
        #expect(decide(&limiter, client, at: 1200) == .send)
        #expect(decide(&limiter, client, at: 1200) != .send)
        #expect((0..<5).map { _ in decide(&limiter, client, at: 2300) }.allSatisfy { $0 == .send })
    }

    @Test func classesArePerPrefixAndKind() {
        var limiter = ResponseRateLimiter(settings: DNSRateLimit(responsesPerSecond: 1, slip: 0, exempt: []))
        #expect(decide(&limiter, client, at: 0) == .send)
        #expect(decide(&limiter, IPAddress("192.0.2.99")!, at: 0) == .drop, "the same /24")
        #expect(decide(&limiter, IPAddress("198.51.100.1")!, at: 0) == .send, "another /24")
        var other = Self.question
        other[1] = 120
        #expect(decide(&limiter, client, question: other, at: 0) == .send, "another name")
        var upper = Self.question
        upper[1] = 87
        #expect(decide(&limiter, client, question: upper, at: 0) == .drop, "the same name in other case")
        #expect(decide(&limiter, client, .nonexistent, question: [1, 97, 0, 0, 1, 0, 1], at: 0) == .send)
        #expect(
            decide(&limiter, client, .nonexistent, question: [1, 98, 0, 0, 1, 0, 1], at: 0) == .drop,
            "NXDOMAIN per prefix")
        #expect(decide(&limiter, client, .error, at: 0) == .send)
        #expect(decide(&limiter, IPAddress("2001:db8:0:1::1")!, at: 0) == .send)
        #expect(decide(&limiter, IPAddress("2001:db8:0:1:ffff::1")!, at: 0) == .drop, "the same IPv6 /56")
    }

    @Test func exemptClientsAreNeverLimited() {
        var limiter = ResponseRateLimiter(settings: DNSRateLimit(responsesPerSecond: 1))
        #expect((0..<100).map { _ in decide(&limiter, IPAddress("127.0.0.1")!, at: 0) }.allSatisfy { $0 == .send })
        #expect((0..<100).map { _ in decide(&limiter, IPAddress("::1")!, at: 0) }.allSatisfy { $0 == .send })
        #expect(decide(&limiter, client, at: 0) == .send)
        #expect(decide(&limiter, client, at: 0) != .send)
    }

    @Test func aTruncatedAnswerIsTheQuestionWithTCSet() throws {
        var query = DNSMessage(id: 0x4242)
        query.recursionDesired = true
        query.questions = [DNSQuestion(name: DomainName("big.contoso.com")!, type: DNSType.txt)]
        query.edns = EDNS(udpPayloadSize: 4096)
        let bytes = DNSMessageWriter.serialize(query)
        let truncated = try #require(bytes.withUnsafeBytes { ResponseRateLimiter.truncatedAnswer(to: $0) })
        let answer = try DNSMessageParser.parse(truncated)
        #expect(answer.id == 0x4242 && answer.isResponse && answer.truncated && answer.recursionDesired)
        #expect(
            answer.questions == query.questions && answer.answers.isEmpty && answer.additionals.isEmpty
                && answer.edns == nil)
        #expect(truncated.count < bytes.count)
        for cut in 0..<bytes.count - 1 {
            let prefix = Array(bytes.prefix(cut))
            _ = prefix.withUnsafeBytes { ResponseRateLimiter.truncatedAnswer(to: $0) }
        }
    }

    @Test func thePrefixesOfTheConfigAreRead() {
        #expect(IPPrefix("10.1.2.3/16")?.description == "10.1.0.0/16")
        #expect(IPPrefix("10.1.2.3/16")?.contains(IPAddress("10.1.255.1")!) == true)
        #expect(IPPrefix("10.1.2.3/16")?.contains(IPAddress("10.2.0.1")!) == false)
        #expect(IPPrefix("2001:db8::/32")?.contains(IPAddress("2001:db8:ffff::1")!) == true)
        #expect(IPPrefix("2001:db8::/32")?.contains(IPAddress("10.0.0.1")!) == false)
        #expect(IPPrefix("10.0.0.1")?.length == 32)
        for bad in ["10.0.0.1/33", "::1/129", "x/8", "10.0.0.1/-1", "10.0.0.1/", "/8"] {
            #expect(IPPrefix(bad) == nil, "\(bad)")
        }
    }
}
