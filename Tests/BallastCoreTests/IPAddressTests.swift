import BallastCore
import Testing

@Suite struct IPAddressTests {
    @Test(arguments: [
        ("10.0.0.1", "10.0.0.1"), ("127.0.0.1", "127.0.0.1"), ("0.0.0.0", "0.0.0.0"),
        ("255.255.255.255", "255.255.255.255"),
        ("::1", "::1"), ("::", "::"), ("2001:db8::11", "2001:db8::11"),
        ("2001:0db8:0000:0000:0000:0000:0000:0011", "2001:db8::11"),
        ("fe80::1:2", "fe80::1:2"), ("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"), ("::ffff:10.0.0.1", "::ffff:a00:1"),
        ("1:0:0:2:0:0:0:3", "1:0:0:2::3"),
    ])
    func parsesAndFormats(text: String, formatted: String) throws {
        let address = try #require(IPAddress(text))
        #expect(address.description == formatted)
        #expect(IPAddress(address.description) == address)
        #expect(IPAddress(bytes: address.bytes) == address)
    }

    @Test(arguments: [
        "", "1.2.3", "1.2.3.4.5", "256.0.0.1", "01.2.3.4", "1.2.3.-4", "a.b.c.d", "1:2:3:4:5:6:7:8:9", ":::",
        "1::2::3", "12345::", "g::1", "::1.2.3", "1.2.3.4 ", "[::1]", "::ffff:999.0.0.1", "1:2:3:4:5:6:7::8:9",
    ])
    func rejectsMalformed(text: String) {
        #expect(IPAddress(text) == nil)
    }

    @Test func rejectsWrongByteCounts() {
        #expect(IPAddress(bytes: [1, 2, 3]) == nil)
        #expect(IPAddress(bytes: [UInt8](repeating: 0, count: 15)) == nil)
    }

    @Test func endpoints() throws {
        #expect(Endpoint("10.0.0.1:443")?.description == "10.0.0.1:443")
        #expect(Endpoint("[2001:db8::1]:5061")?.description == "[2001:db8::1]:5061")
        for bad in ["10.0.0.1", "10.0.0.1:0", "10.0.0.1:65536", "::1:443", "[::1]", "[10.0.0.1]:80", "host:80", ":80"] {
            #expect(Endpoint(bad) == nil, "\(bad)")
        }
    }
}
