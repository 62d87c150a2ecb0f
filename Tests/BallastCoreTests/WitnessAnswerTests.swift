import BallastCore
import Testing

@Suite struct WitnessAnswerTests {
    func reply(_ body: String, status: String = "200 OK", headers: [String] = []) -> [UInt8] {
        let head = (["HTTP/1.1 \(status)", "Content-Type: application/json"] + headers).joined(separator: "\r\n")
        return Array((head + "\r\n\r\n" + body).utf8)
    }

    @Test func theVerdictIsReadFromTheJSONHoweverItIsSpaced() throws {
        for body in [
            #"{"site":"hq","lost":true,"probes":[]}"#,
            #"{"site": "hq", "lost": true}"#,
            "{\n  \"lost\" : true,\n  \"probes\" : [\"127.0.0.1:1 refused\"],\n  \"site\" : \"hq\"\n}",
            "{ \"site\" : \"hq\" , \"lost\"\t:\ttrue }",
        ] {
            #expect(try WitnessAnswer.read(reply: reply(body), site: "hq") == WitnessAnswer(site: "hq", lost: true))
        }
        #expect(try WitnessAnswer.read(reply: reply(#"{"site":"hq","lost":false}"#), site: "hq").lost == false)
    }

    /// A text search for `"lost" : true` would have found it in a probe's text.
    @Test func wordsInsideAStringAreNotTheVerdict() throws {
        let body = #"{"site":"hq","lost":false,"probes":["10.0.0.1:443 said \"lost\" : true"]}"#
        #expect(try WitnessAnswer.read(reply: reply(body), site: "hq").lost == false)
    }

    @Test func aChunkedBodyIsJoinedFirst() throws {
        let body = #"{"site":"dr","lost":true}"#
        let first = body.prefix(10), second = body.dropFirst(10)
        let chunked =
            "\(String(first.utf8.count, radix: 16))\r\n\(first)\r\n\(String(second.utf8.count, radix: 16));ext=1\r\n\(second)\r\n0\r\n\r\n"
        #expect(try WitnessAnswer.read(reply: reply(chunked, headers: ["Transfer-Encoding: chunked"]), site: "dr").lost)
    }

    @Test func anythingButAVerdictOnTheSiteAskedIsNoAnswer() {
        #expect(throws: WitnessAnswer.ReadError.status("HTTP/1.1 500 Internal Server Error")) {
            try WitnessAnswer.read(
                reply: reply(#"{"site":"hq","lost":true}"#, status: "500 Internal Server Error"), site: "hq")
        }
        #expect(throws: WitnessAnswer.ReadError.otherSite(asked: "hq", answered: "dr")) {
            try WitnessAnswer.read(reply: reply(#"{"site":"dr","lost":true}"#), site: "hq")
        }
        #expect(throws: WitnessAnswer.ReadError.truncated) {
            try WitnessAnswer.read(reply: Array("HTTP/1.1 200 OK\r\nContent-Length: 30\r\n".utf8), site: "hq")
        }
        for body in [
            #"{"site":"hq","lost":"true"}"#, #"{"site":"hq"}"#, "lost: true", #"{"site":"hq","lost":true"#, "",
        ] {
            #expect(throws: WitnessAnswer.ReadError.self) { try WitnessAnswer.read(reply: reply(body), site: "hq") }
        }
        for chunks in [
            "-1\r\nx\r\n0\r\n\r\n", "7fffffffffffffff\r\nx\r\n", "ffffffffffffffffffff\r\n", "2\r\nabc", "zz\r\n",
        ] {
            #expect(throws: WitnessAnswer.ReadError.self) {
                try WitnessAnswer.read(reply: reply(chunks, headers: ["Transfer-Encoding: chunked"]), site: "hq")
            }
        }
    }

    @Test func randomAndMutatedRepliesNeverTrap() {
        var generator = SystemRandomNumberGenerator()
        let good = reply(#"{"site":"hq","lost":true}"#, headers: ["Transfer-Encoding: chunked"])
        for round in 0..<5_000 {
            var bytes =
                round % 2 == 0
                ? good
                : (0..<Int.random(in: 0..<200, using: &generator)).map { _ in
                    UInt8.random(in: 0...255, using: &generator)
                }
            for _ in 0..<Int.random(in: 0..<6, using: &generator) where !bytes.isEmpty {
                bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
            }
            _ = try? WitnessAnswer.read(reply: bytes, site: "hq")
        }
    }
}
