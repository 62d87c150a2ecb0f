import BallastCodecs
import BallastCore
import Testing

@Suite struct ProxyHeaderTests {
    let v4 = ProxyHeader(source: Endpoint("192.0.2.10:51234")!, destination: Endpoint("10.0.0.10:443")!)
    let v6 = ProxyHeader(source: Endpoint("[2001:db8::10]:51234")!, destination: Endpoint("[2001:db8::1]:5061")!)

    // MARK: Version 1

    @Test func encodesV1AsTheSpecShows() {
        #expect(String(decoding: v4.encoded(as: .v1), as: UTF8.self) == "PROXY TCP4 192.0.2.10 10.0.0.10 51234 443\r\n")
        #expect(
            String(decoding: v6.encoded(as: .v1), as: UTF8.self) == "PROXY TCP6 2001:db8::10 2001:db8::1 51234 5061\r\n"
        )
        #expect(String(decoding: ProxyHeader(command: .local).encoded(as: .v1), as: UTF8.self) == "PROXY UNKNOWN\r\n")
    }

    @Test func parsesV1WithTheDataThatFollows() {
        let bytes = Array("PROXY TCP4 192.0.2.10 10.0.0.10 51234 443\r\nGET / HTTP/1.1\r\n".utf8)
        #expect(ProxyHeader.parse(bytes) == .header(v4, version: .v1, consumed: 43))
    }

    @Test func parsesV1Unknown() {
        let bytes = Array("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n".utf8)
        guard case .header(let header, .v1, let consumed) = ProxyHeader.parse(bytes) else {
            Issue.record("expected a header")
            return
        }
        #expect(header.source == nil)
        #expect(consumed == bytes.count)
    }

    @Test(arguments: [
        "PROXY TCP4 192.0.2.10 10.0.0.10 51234\r\n",  // too few fields
        "PROXY TCP4 192.0.2.10 10.0.0.10 51234 443 9\r\n",  // too many
        "PROXY TCP5 192.0.2.10 10.0.0.10 1 2\r\n",  // unknown protocol
        "PROXY TCP4 2001:db8::1 10.0.0.10 1 2\r\n",  // family mismatch
        "PROXY TCP6 192.0.2.1 192.0.2.2 1 2\r\n",
        "PROXY TCP4 192.0.2.10 10.0.0.10 051234 443\r\n",  // leading zero
        "PROXY TCP4 192.0.2.10 10.0.0.10 65536 443\r\n",  // port out of range
        "PROXY TCP4 192.0.2.10 10.0.0.10 -1 443\r\n",
        "PROXY TCP4  192.0.2.10 10.0.0.10 1 443\r\n",  // double space
        "PROXY TCP4 192.0.2.10 10.0.0.10 1 443\rX",  // CR without LF
        "PROXY TCP4 192.0.2.\u{01}0 10.0.0.10 1 443\r\n",  // control character
        "GET / HTTP/1.1\r\n",  // not a PROXY header at all
        "proxy TCP4 192.0.2.10 10.0.0.10 1 443\r\n",
    ])
    func rejectsMalformedV1(text: String) {
        guard case .invalid = ProxyHeader.parse(Array(text.utf8)) else {
            Issue.record("accepted \(text.debugDescription)")
            return
        }
    }

    @Test func rejectsV1LongerThan107Bytes() {
        let long = Array(("PROXY TCP4 " + String(repeating: "1", count: 120)).utf8)
        guard case .invalid = ProxyHeader.parse(long) else {
            Issue.record("accepted an overlong header")
            return
        }
    }

    // MARK: Version 2

    @Test func encodesV2AsTheSpecDefines() {
        let bytes = v4.encoded(as: .v2)
        #expect(Array(bytes.prefix(12)) == ProxyHeader.v2Signature)
        #expect(bytes[12] == 0x21)  // version 2, PROXY
        #expect(bytes[13] == 0x11)  // AF_INET, STREAM
        #expect(Array(bytes[14...15]) == [0, 12])
        #expect(Array(bytes[16...19]) == [192, 0, 2, 10])
        #expect(Array(bytes[20...23]) == [10, 0, 0, 10])
        #expect(Array(bytes[24...27]) == [0xc8, 0x22, 0x01, 0xbb])  // 51234, 443
        #expect(bytes.count == 28)
        let six = v6.encoded(as: .v2)
        #expect(six[13] == 0x21)
        #expect(six.count == 16 + 36)
        let local = ProxyHeader(command: .local).encoded(as: .v2)
        #expect(local == ProxyHeader.v2Signature + [0x20, 0x00, 0x00, 0x00])
    }

    @Test(arguments: [ProxyHeader.Version.v1, .v2])
    func roundTrips(version: ProxyHeader.Version) {
        for header in [v4, v6] {
            let bytes = header.encoded(as: version)
            #expect(ProxyHeader.parse(bytes + [1, 2, 3]) == .header(header, version: version, consumed: bytes.count))
        }
    }

    @Test func roundTripsExtensions() {
        var header = v4
        header.extensions = [
            .init(type: 0x01, value: Array("h2".utf8)), .init(type: 0x02, value: Array("mail.example.com".utf8)),
            .init(type: 0x04, value: []),
        ]
        let bytes = header.encoded(as: .v2)
        #expect(ProxyHeader.parse(bytes) == .header(header, version: .v2, consumed: bytes.count))
    }

    @Test func localCommandCarriesNoAddresses() {
        // A LOCAL header may still carry addresses; they must be ignored.
        var bytes = v4.encoded(as: .v2)
        bytes[12] = 0x20
        guard case .header(let header, .v2, _) = ProxyHeader.parse(bytes) else {
            Issue.record("expected a header")
            return
        }
        #expect(header.command == .local)
        #expect(header.source == nil)
    }

    @Test func everyPrefixAsksForMore() {
        for version in [ProxyHeader.Version.v1, .v2] {
            let bytes = v6.encoded(as: version)
            for length in 0..<bytes.count {
                #expect(ProxyHeader.parse(bytes.prefix(length)) == .needMoreData, "\(version) prefix \(length)")
            }
        }
    }

    @Test func rejectsMalformedV2() {
        let good = v4.encoded(as: .v2)
        func check(_ mutate: (inout [UInt8]) -> Void, _ label: String) {
            var bytes = good
            mutate(&bytes)
            guard case .invalid = ProxyHeader.parse(bytes) else {
                Issue.record("accepted: \(label)")
                return
            }
        }
        check({ $0[12] = 0x11 }, "version 1 in a v2 header")
        check({ $0[12] = 0x22 }, "command 2")
        check({ $0[13] = 0x41 }, "family 4")
        check({ $0[13] = 0x13 }, "transport 3")
        check({ $0[15] = 8 }, "length too short for IPv4 addresses")
        check(
            {
                $0[14] = 0xff; $0[15] = 0xff
            }, "length over the limit")
        check(
            {
                $0 += [0x01, 0x00]; $0[15] = 14
            }, "truncated extension header")
        check(
            {
                $0 += [0x01, 0x00, 0x09, 0x41]; $0[15] = 16
            }, "extension overruns the header")
    }

    @Test func tooShortBodyWaitsForData() {
        var bytes = v4.encoded(as: .v2)
        bytes[15] = 200  // claims more than is here
        #expect(ProxyHeader.parse(bytes) == .needMoreData)
    }

    // MARK: Random input

    @Test func randomBytesNeverCrashAndAreAlmostNeverHeaders() {
        var generator = SystemRandomNumberGenerator()
        var accepted = 0
        for _ in 0..<20_000 {
            let length = Int(generator.next() % 300)
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            if case .header = ProxyHeader.parse(bytes) { accepted += 1 }
        }
        #expect(accepted == 0)
    }

    @Test func mutatedHeadersNeverCrash() {
        var generator = SystemRandomNumberGenerator()
        let seeds = [v4.encoded(as: .v1), v6.encoded(as: .v1), v4.encoded(as: .v2), v6.encoded(as: .v2)]
        for _ in 0..<20_000 {
            var bytes = seeds[Int(generator.next() % 4)]
            for _ in 0..<Int(1 + generator.next() % 4) {
                let index = Int(generator.next() % UInt64(bytes.count))
                switch generator.next() % 3 {
                case 0: bytes[index] = UInt8.random(in: 0...255, using: &generator)
                case 1: bytes.remove(at: index)
                default: bytes.insert(UInt8.random(in: 0...255, using: &generator), at: index)
                }
                if bytes.isEmpty { break }
            }
            let result = ProxyHeader.parse(bytes)
            if case .header(_, _, let consumed) = result {
                #expect(consumed <= bytes.count)
            }
        }
    }
}
