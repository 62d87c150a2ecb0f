import BallastCore
import BallastTestSupport
import Testing

@testable import BallastCodecs

/// The HTTP/1.1 head scanner, chunked scanner and head writer, without sockets: valid heads
/// whole, cut short and split at every byte; request smuggling and malformed heads refused;
/// random and damaged input never traps.
@Suite struct HTTP1HeadTests {
    static let typicalRequests = [
        "GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/7.88\r\nAccept: */*\r\n\r\n",
        "POST /submit HTTP/1.1\r\nHost: a.example\r\nContent-Length: 11\r\nContent-Type: text/plain\r\n\r\n",
        "PUT /up HTTP/1.1\r\nhost: a\r\ntransfer-encoding: gzip, chunked\r\nExpect: 100-continue\r\n\r\n",
        "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        "\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nCookie: a=1; SRV=abc; b=2\r\n\r\n",
        "GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: k\r\n\r\n",
        "OPTIONS * HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.0.0.1\r\nX-Empty:\r\n\r\n",
    ]

    static let typicalResponses = [
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\n",
        "HTTP/1.1 204 No Content\r\nDate: Fri, 04 Dec 2026 21:00:00 GMT\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nKeep-Alive: timeout=5\r\nConnection: keep-alive\r\n\r\n",
        "HTTP/1.0 200\r\n\r\n",
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    ]

    // MARK: Requests

    @Test func typicalRequestIsScannedInPlace() {
        let text =
            "GET /a?b=c HTTP/1.1\r\nHost: example.com\r\nX-Thing:  spaced value \t\r\nContent-Length: 0\r\n\r\nNEXT"
        scan(text) { bytes, head, result in
            #expect(result == .complete)
            #expect(head.length == text.utf8.count - 4)
            #expect(head.method == .get)
            #expect(string(bytes, head.target) == "/a?b=c")
            #expect(head.minorVersion == 1)
            #expect(head.fields.count == 3)
            #expect(head.fields.map { $0.known } == [.host, .other, .contentLength])
            #expect(string(bytes, head.fields[1].name) == "X-Thing")
            #expect(string(bytes, head.fields[1].value) == "spaced value")
            #expect(string(bytes, head.host!) == "example.com")
            #expect(head.contentLength == 0)
            #expect(head.requestFraming == .none)
            #expect(head.keepsAlive)
        }
    }

    @Test func framingAndConnectionFactsAreRead() {
        scan(Self.typicalRequests[1]) { _, head, result in
            #expect(result == .complete)
            #expect(head.method == .post)
            #expect(head.requestFraming == .length(11))
        }
        scan(Self.typicalRequests[2]) { _, head, result in
            #expect(result == .complete)
            #expect(head.requestFraming == .chunked)
            #expect(head.expectsContinue)
        }
        scan(Self.typicalRequests[3]) { _, head, result in
            #expect(result == .complete)
            #expect(head.minorVersion == 0)
            #expect(head.keepsAlive)
        }
        scan(Self.typicalRequests[4]) { bytes, head, result in
            #expect(result == .complete)
            #expect(head.start == 2)
            #expect(head.connectionClose)
            #expect(!head.keepsAlive)
            #expect(string(bytes, head.methodBytes) == "GET")
        }
        scan(Self.typicalRequests[5]) { _, head, result in
            #expect(result == .complete)
            #expect(head.hasUpgrade && head.connectionUpgrade)
        }
        scan("GET / HTTP/1.0\r\n\r\n") { _, head, result in
            #expect(result == .complete)
            #expect(!head.keepsAlive)
        }
        scan("GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, X-Secret\r\n\r\n") { _, head, result in
            #expect(result == .complete)
            #expect(head.connectionNamesOthers && head.connectionKeepAlive)
        }
    }

    @Test func everyFormOfRequestTargetIsAccepted() {
        for text in [
            "GET /a/b?c=d HTTP/1.1\r\nHost: x\r\n\r\n", "GET http://x.example/a HTTP/1.1\r\nHost: x.example\r\n\r\n",
            "CONNECT x.example:443 HTTP/1.1\r\nHost: x.example:443\r\n\r\n", "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
        ] {
            scan(text) { _, _, result in #expect(result == .complete, "\(text.debugDescription)") }
        }
    }

    @Test func everyMethodIsClassified() {
        let methods: [(String, HTTP1Method)] = [
            ("GET", .get), ("HEAD", .head), ("POST", .post), ("PUT", .put), ("DELETE", .delete), ("OPTIONS", .options),
            ("CONNECT", .connect), ("TRACE", .trace), ("PATCH", .patch), ("PROPFIND", .other), ("get", .other),
        ]
        for (text, method) in methods {
            let target = method == .connect ? "x:443" : "/"
            scan("\(text) \(target) HTTP/1.1\r\nHost: x\r\n\r\n") { _, head, result in
                #expect(result == .complete)
                #expect(head.method == method, "\(text)")
            }
        }
    }

    @Test func everyTruncationIsIncompleteAndNeverFails() {
        for text in Self.typicalRequests {
            let bytes = Array(text.utf8)
            for prefix in Mutator.truncations(bytes).dropLast() {
                var head = HTTP1Head()
                let result = prefix.withUnsafeBytes { HTTP1HeadScanner.scanRequest($0, into: &head) }
                #expect(result == .incomplete, "\(prefix.count) bytes of \(text.debugDescription)")
            }
        }
    }

    /// A connection keeps only the progress of an incomplete head and scans the rest into a
    /// head another connection used meanwhile: the result is the whole head's, and no byte
    /// before the saved point is searched again (a slow client costs linear time).
    @Test func progressResumesOnAReusedHead() {
        for text in Self.typicalRequests + Self.typicalResponses.map({ "\r\n" + $0 }).dropFirst(5)
            + Self.typicalResponses
        {
            let response = text.hasPrefix("HTTP/")
            let bytes = Array(text.utf8)
            var whole = HTTP1Head()
            let wholeResult = bytes.withUnsafeBytes { scanOne($0, &whole, response: response) }
            #expect(wholeResult == .complete)
            var shared = HTTP1Head()
            var progress = HTTP1Head.Progress()
            var last = HTTP1ScanResult.incomplete
            for end in 1...bytes.count where last == .incomplete {
                // Another connection's head passes through the shared storage in between.
                shared.reset()
                _ = Array("GET /other HTTP/1.1\r\nHost: o\r\n\r\n".utf8).withUnsafeBytes {
                    scanOne($0, &shared, response: false)
                }
                shared.reset()
                shared.progress = progress
                last = bytes.withUnsafeBytes {
                    scanOne(UnsafeRawBufferPointer(rebasing: $0[..<end]), &shared, response: response)
                }
                if last == .incomplete {
                    progress = shared.progress
                    #expect(
                        progress != HTTP1Head.Progress() || end < 2,
                        "progress is kept at \(end) of \(text.debugDescription)")
                }
            }
            #expect(last == .complete, "\(text.debugDescription)")
            #expect(shared.length == whole.length && shared.fields == whole.fields && shared.start == whole.start)
        }
        // Progress made on longer bytes, set on shorter ones, is not trusted: the search starts over.
        let long = Array(("GET / HTTP/1.1\r\nX-Long: " + String(repeating: "v", count: 200)).utf8)
        var stale = HTTP1Head()
        #expect(long.withUnsafeBytes { scanOne($0, &stale, response: false) } == .incomplete)
        let saved = stale.progress
        let short = Array("GET / HTTP/1.1\r\nHost: s\r\n\r\n".utf8)
        stale.reset()
        stale.progress = saved
        #expect(short.withUnsafeBytes { scanOne($0, &stale, response: false) } == .complete)
        #expect(stale.length == short.count && stale.fields.count == 1)
    }

    @Test func splitAtEveryByteGivesTheSameHead() {
        for text in Self.typicalRequests + ["GET / HTTP/1.1\r\nHost: x\r\n\r\n"] {
            let bytes = Array(text.utf8)
            var whole = HTTP1Head()
            let wholeResult = bytes.withUnsafeBytes { HTTP1HeadScanner.scanRequest($0, into: &whole) }
            #expect(wholeResult == .complete)
            for cut in 1..<bytes.count {
                var head = HTTP1Head()
                let first = bytes.withUnsafeBytes {
                    HTTP1HeadScanner.scanRequest(UnsafeRawBufferPointer(rebasing: $0[..<cut]), into: &head)
                }
                #expect(first == .incomplete)
                let second = bytes.withUnsafeBytes { HTTP1HeadScanner.scanRequest($0, into: &head) }
                #expect(second == .complete, "cut at \(cut) of \(text.debugDescription)")
                #expect(head.length == whole.length && head.fields == whole.fields && head.start == whole.start)
            }
            // One byte at a time, the way a slow client sends it.
            var head = HTTP1Head()
            var result = HTTP1ScanResult.incomplete
            for end in 1...bytes.count {
                result = bytes.withUnsafeBytes {
                    HTTP1HeadScanner.scanRequest(UnsafeRawBufferPointer(rebasing: $0[..<end]), into: &head)
                }
                if end < bytes.count { #expect(result == .incomplete) }
            }
            #expect(result == .complete)
            #expect(head.fields == whole.fields)
        }
    }

    @Test func theHeadIsReusedAfterReset() {
        var head = HTTP1Head()
        for text in Self.typicalRequests {
            head.reset()
            let result = Array(text.utf8).withUnsafeBytes { HTTP1HeadScanner.scanRequest($0, into: &head) }
            var fresh = HTTP1Head()
            _ = Array(text.utf8).withUnsafeBytes { HTTP1HeadScanner.scanRequest($0, into: &fresh) }
            #expect(result == .complete)
            #expect(
                head.fields == fresh.fields && head.chunked == fresh.chunked
                    && head.contentLength == fresh.contentLength)
        }
    }

    /// Request smuggling and malformed heads: each is refused with 400 and never forwarded.
    @Test(arguments: [
        // Content-Length beside Transfer-Encoding (CL.TE and TE.CL).
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 6\r\n\r\n",
        // Duplicate Content-Length, equal or not, and lists.
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nContent-Length: 5\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nContent-Length: 6\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6, 6\r\n\r\n",
        // Content-Length that is not a plain decimal.
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x10\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: \r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1 2\r\n\r\n",
        // Transfer-Encoding that does not end in chunked, chunked twice, chunked with parameters.
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked;q=1\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: \r\n\r\n",
        "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
        // Whitespace before the colon, obs-fold, no name.
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length\t: 5\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n continued\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\n\tX-A: 1\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\n: empty\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nBad(Name): 1\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nNo colon\r\n\r\n",
        // Bare CR and bare LF anywhere, NUL, control bytes.
        "GET / HTTP/1.1\nHost: x\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\n\n",
        "GET / HTTP/1.1\r\nHost: x\rX-A: 1\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\u{0}b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\u{1}b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\u{7f}b\r\n\r\n",
        // Host missing (HTTP/1.1) or repeated.
        "GET / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        // Broken request lines.
        "GET  / HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET / HTTP/1.1 \r\nHost: x\r\n\r\n",
        "GET /a b HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /\u{7f} HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET / HTTP/1.x\r\nHost: x\r\n\r\n",
        "GET / http/1.1\r\nHost: x\r\n\r\n",
        "G(T / HTTP/1.1\r\nHost: x\r\n\r\n",
        " GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /\r\nHost: x\r\n\r\n",
        "\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
        // Request targets of none of the four forms.
        "GET index.html HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET * HTTP/1.1\r\nHost: x\r\n\r\n",
        "OPTIONS ** HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET \\/a HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET 1http://x/ HTTP/1.1\r\nHost: x\r\n\r\n",
        "CONNECT /x HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET http: HTTP/1.1\r\nHost: x\r\n\r\n",
    ])
    func smugglingAndMalformedHeadsAreRefused(text: String) {
        scan(text) { _, _, result in
            guard case .failed(let error) = result else {
                Issue.record("accepted: \(text.debugDescription) -> \(result)")
                return
            }
            #expect(error.status == 400, "\(text.debugDescription): \(error)")
            #expect(!error.reason.isEmpty)
        }
    }

    @Test func otherVersionsGet505() {
        for text in [
            "GET / HTTP/2.0\r\nHost: x\r\n\r\n", "GET / HTTP/1.2\r\nHost: x\r\n\r\n", "GET / HTTP/0.9\r\n\r\n",
        ] {
            scan(text) { _, _, result in
                #expect(result == .failed(.init(status: 505, reason: "HTTP version other than 1.0 and 1.1")), "\(text)")
            }
        }
    }

    @Test func headsOverTheLimitsGet431() {
        let limits = HTTP1Limits(maxHeadBytes: 256, maxFields: 4)
        let long = "GET /\(String(repeating: "a", count: 300)) HTTP/1.1\r\nHost: x\r\n\r\n"
        scan(long, limits: limits) { _, _, result in
            guard case .failed(let error) = result else { Issue.record("accepted"); return }
            #expect(error.status == 431)
        }
        // Still incomplete, but already over the limit: refused without waiting for the end.
        scan("GET /\(String(repeating: "a", count: 300))", limits: limits) { _, _, result in
            guard case .failed(let error) = result else { Issue.record("waited"); return }
            #expect(error.status == 431)
        }
        let many = "GET / HTTP/1.1\r\nHost: x\r\n" + (1...4).map { "X-\($0): v\r\n" }.joined() + "\r\n"
        scan(many, limits: limits) { _, _, result in
            guard case .failed(let error) = result else { Issue.record("accepted"); return }
            #expect(error.status == 431)
        }
        let exact = "GET / HTTP/1.1\r\nHost: x\r\n" + (1...3).map { "X-\($0): v\r\n" }.joined() + "\r\n"
        scan(exact, limits: limits) { _, _, result in #expect(result == .complete) }
    }

    @Test(arguments: [1, 2, 3, 4])
    func randomAndDamagedInputNeverTraps(seed: UInt64) {
        var mutator = Mutator(seed: seed)
        let seeds = (Self.typicalRequests + Self.typicalResponses).map { Array($0.utf8) }
        var inputs: [[UInt8]] = []
        for seed in seeds {
            inputs += Mutator.numberReplacements(seed)
            for _ in 0..<200 { inputs.append(mutator.damaged(seed)) }
        }
        for _ in 0..<500 { inputs.append(mutator.randomBytes(mutator.below(300))) }
        for input in inputs {
            for response in [false, true] {
                var head = HTTP1Head()
                let cut = mutator.below(input.count + 1)
                let result = input.withUnsafeBytes { all -> HTTP1ScanResult in
                    let first = scanOne(UnsafeRawBufferPointer(rebasing: all[..<cut]), &head, response: response)
                    guard first == .incomplete else { return first }
                    return scanOne(all, &head, response: response)
                }
                if result == .complete {
                    // Whatever was accepted lies inside the input and is well formed.
                    #expect(head.length <= input.count)
                    for field in head.fields {
                        #expect(field.line.upperBound <= head.length && !field.name.isEmpty)
                        #expect(!input[field.value].contains(13) && !input[field.value].contains(10))
                    }
                    if !response {
                        #expect(!(head.hasTransferEncoding && head.contentLength != nil))
                    }
                }
            }
        }
    }

    // MARK: Responses

    @Test func responseFramingFollowsRFC9112() {
        func framing(_ text: String, method: HTTP1Method = .get) -> HTTP1BodyFraming? {
            var framing: HTTP1BodyFraming?
            scan(text, response: true) { _, head, result in
                #expect(result == .complete, "\(text.debugDescription)")
                framing = head.responseFraming(to: method)
            }
            return framing
        }
        #expect(framing(Self.typicalResponses[0]) == .length(5))
        #expect(framing(Self.typicalResponses[0], method: .head) == HTTP1BodyFraming.none)
        #expect(framing(Self.typicalResponses[1]) == HTTP1BodyFraming.none)
        #expect(framing(Self.typicalResponses[2]) == .chunked)
        #expect(framing(Self.typicalResponses[3]) == .untilClose)
        #expect(framing(Self.typicalResponses[4]) == HTTP1BodyFraming.none)
        #expect(framing("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n") == HTTP1BodyFraming.none)
        #expect(framing("HTTP/1.1 100 Continue\r\n\r\n") == HTTP1BodyFraming.none)
        #expect(framing("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n") == HTTP1BodyFraming.none)
        #expect(framing("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n") == .untilClose)
        // Both: Transfer-Encoding wins and the length is dropped on the way to the client.
        #expect(framing("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n") == .chunked)
        #expect(framing("HTTP/1.1 200 OK\r\n\r\n", method: .connect) == .untilClose)
    }

    @Test func brokenStatusLinesAreRefused() {
        for text in [
            "HTTP/1.1 20 OK\r\n\r\n", "HTTP/1.1 2000 OK\r\n\r\n", "HTTP/1.1 099 X\r\n\r\n", "HTTP/1.1 600 X\r\n\r\n",
            "HTTP/1.1 200 O\u{1}K\r\n\r\n", "HTTP/1.1  200 OK\r\n\r\n", "HTTP/1.1 abc OK\r\n\r\n", "ICY 200 OK\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "HTTP/1.1 200 OK\r\n\r\r\n",
        ] {
            scan(text, response: true) { _, _, result in
                guard case .failed = result else { Issue.record("accepted: \(text.debugDescription)"); return }
            }
        }
    }

    // MARK: Chunked bodies

    @Test func chunkedBodiesEndWhereTheyEnd() {
        let bodies = [
            "5\r\nhello\r\n0\r\n\r\n",
            "5;ext=1;other=\"q s\"\r\nhello\r\nA\r\n0123456789\r\n0\r\n\r\n",
            "5 ;ext\r\nhello\r\n0\r\nTrailer-A: 1\r\nTrailer-B: two\r\n\r\n",
            "0\r\n\r\n",
            "000\r\n\r\n",
            "fFfF\r\n" + String(repeating: "x", count: 0xffff) + "\r\n0\r\n\r\n",
        ]
        for body in bodies {
            let bytes = Array((body + "GET /next").utf8)
            let end = body.utf8.count
            // Whole.
            var whole = HTTP1ChunkedScanner()
            let result = bytes.withUnsafeBytes { whole.consume($0) }
            #expect(result == .ended(consumed: end), "\(body.prefix(40).debugDescription)")
            #expect(whole.isDone)
            // Split at every byte (all of them for short bodies).
            for cut in stride(from: 1, to: end, by: end > 200 ? 997 : 1) {
                var scanner = HTTP1ChunkedScanner()
                let first = bytes.withUnsafeBytes { scanner.consume(UnsafeRawBufferPointer(rebasing: $0[..<cut])) }
                #expect(first == .needMore, "cut \(cut)")
                let second = bytes.withUnsafeBytes { scanner.consume(UnsafeRawBufferPointer(rebasing: $0[cut...])) }
                #expect(second == .ended(consumed: end - cut), "cut \(cut)")
            }
        }
    }

    @Test(arguments: [
        "fffffffffffffffff\r\n",  // 17 hex digits: over 2^60
        "1000000000000000\r\n",  // 16 digits
        "-1\r\n", "+5\r\n", "0x5\r\n", "\r\n", " 5\r\n", "5 5\r\n", "g\r\n",
        "5\nhello\r\n0\r\n\r\n",  // bare LF after the size
        "5\r\nhello\n0\r\n\r\n",  // bare LF after data
        "5\r\nhelloX\r\n0\r\n\r\n",  // data longer than its size
        "3\r\nhello\r\n0\r\n\r\n",
        "5;a\u{1}b\r\nhello\r\n0\r\n\r\n",  // control byte in an extension
        "5;a\nb\r\nhello\r\n0\r\n\r\n",
        "0\r\nX: 1\n\r\n",  // bare LF in trailers
        "0\r\n: 1\r\n\r\n",  // trailer without a name
        "0\r\nX: \u{1}\r\n\r\n",
        "0\r\n\rX",
    ])
    func brokenChunkedBodiesAreRefused(body: String) {
        var scanner = HTTP1ChunkedScanner()
        let result = Array(body.utf8).withUnsafeBytes { scanner.consume($0) }
        guard case .failed(let reason) = result else {
            Issue.record("accepted \(body.debugDescription): \(result)"); return
        }
        #expect(!reason.isEmpty)
    }

    @Test func oversizedExtensionsAndTrailersAreRefused() {
        var scanner = HTTP1ChunkedScanner()
        let extensions = "5;" + String(repeating: "e", count: HTTP1ChunkedScanner.maxExtensionBytes + 1) + "\r\n"
        guard case .failed = Array(extensions.utf8).withUnsafeBytes({ scanner.consume($0) }) else {
            Issue.record("long extensions accepted")
            return
        }
        scanner = HTTP1ChunkedScanner()
        let trailers = "0\r\n" + String(repeating: "X-T: vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv\r\n", count: 500)
        guard case .failed = Array(trailers.utf8).withUnsafeBytes({ scanner.consume($0) }) else {
            Issue.record("long trailers accepted")
            return
        }
    }

    @Test(arguments: [5, 6])
    func randomChunkedInputNeverTraps(seed: UInt64) {
        var mutator = Mutator(seed: seed)
        let seeds = ["5\r\nhello\r\n0\r\n\r\n", "5;e=1\r\nhello\r\n0\r\nT: 1\r\n\r\n"].map { Array($0.utf8) }
        var inputs: [[UInt8]] = []
        for seed in seeds {
            inputs += Mutator.numberReplacements(seed)
            for _ in 0..<500 { inputs.append(mutator.damaged(seed)) }
        }
        for _ in 0..<500 { inputs.append(mutator.randomBytes(mutator.below(200))) }
        for input in inputs {
            var scanner = HTTP1ChunkedScanner()
            let result = input.withUnsafeBytes { scanner.consume($0) }
            if case .ended(let consumed) = result { #expect(consumed <= input.count) }
        }
    }

    // MARK: Writing heads

    static func policy(
        _ xff: HTTPSettings.HeaderPolicy = .replace, _ xfp: HTTPSettings.HeaderPolicy = .replace,
        _ forwarded: HTTPSettings.HeaderPolicy = .none, cookie: String? = nil, tls: Bool = false
    ) -> HTTP1RequestPolicy {
        var settings = HTTPSettings()
        settings.xForwardedFor = xff
        settings.xForwardedProto = xfp
        settings.forwarded = forwarded
        return HTTP1RequestPolicy(
            settings: settings, client: IPAddress(v4: 192, 0, 2, 7),
            relayAddress: Endpoint(address: IPAddress(v4: 10, 0, 0, 1), port: 80), isTLS: tls, cookieName: cookie)
    }

    @Test func requestHeadsLoseHopByHopFieldsAndGainForwardingOnes() {
        let text =
            "GET /p HTTP/1.1\r\nHost: example.com\r\nConnection: keep-alive, X-Private\r\nKeep-Alive: 5\r\n"
            + "X-Private: secret\r\nTE: trailers\r\nProxy-Connection: x\r\nX-Forwarded-For: 1.1.1.1\r\n"
            + "X-Forwarded-Proto: ftp\r\nAccept: */*\r\n\r\n"
        #expect(
            writeRequest(text, policy: Self.policy())
                == "GET /p HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n"
                + "X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: http\r\n\r\n")
        #expect(
            writeRequest(text, policy: Self.policy(.add, .add, .add, tls: true))
                == "GET /p HTTP/1.1\r\nHost: example.com\r\nX-Forwarded-For: 1.1.1.1, 192.0.2.7\r\n"
                + "X-Forwarded-Proto: ftp\r\nAccept: */*\r\n"
                + "Forwarded: for=192.0.2.7;by=10.0.0.1;proto=https;host=example.com\r\n\r\n")
        #expect(
            writeRequest(text, policy: Self.policy(.none, .none, .none))
                == "GET /p HTTP/1.1\r\nHost: example.com\r\nX-Forwarded-For: 1.1.1.1\r\n"
                + "X-Forwarded-Proto: ftp\r\nAccept: */*\r\n\r\n")
    }

    @Test func forwardedJoinsTheClientsAndQuotesHosts() {
        let text =
            "GET / HTTP/1.1\r\nHost: h:8080\r\nForwarded: for=1.2.3.4\r\nX-Forwarded-For: 5.6.7.8\r\nForwarded: for=9.9.9.9\r\n\r\n"
        #expect(
            writeRequest(text, policy: Self.policy(.add, .none, .add))
                == "GET / HTTP/1.1\r\nHost: h:8080\r\n"
                + "Forwarded: for=1.2.3.4, for=9.9.9.9, for=192.0.2.7;by=10.0.0.1;proto=http;host=\"h:8080\"\r\n"
                + "X-Forwarded-For: 5.6.7.8, 192.0.2.7\r\n\r\n")
        #expect(
            writeRequest(text, policy: Self.policy(.none, .none, .replace))
                == "GET / HTTP/1.1\r\nHost: h:8080\r\nX-Forwarded-For: 5.6.7.8\r\n"
                + "Forwarded: for=192.0.2.7;by=10.0.0.1;proto=http;host=\"h:8080\"\r\n\r\n")
    }

    @Test func ballastsCookieIsTakenOut() {
        let policy = Self.policy(.none, .none, cookie: "SRV")
        #expect(
            writeRequest("GET / HTTP/1.1\r\nHost: x\r\nCookie: a=1; SRV=abc;b=2\r\n\r\n", policy: policy)
                == "GET / HTTP/1.1\r\nHost: x\r\nCookie: a=1; b=2\r\n\r\n")
        #expect(
            writeRequest("GET / HTTP/1.1\r\nHost: x\r\nCookie: SRV=abc\r\nCookie: SRVX=1\r\n\r\n", policy: policy)
                == "GET / HTTP/1.1\r\nHost: x\r\nCookie: SRVX=1\r\n\r\n")
        #expect(
            writeRequest("GET / HTTP/1.1\r\nHost: x\r\nCookie:  SRV = abc ; ;\r\n\r\n", policy: policy)
                == "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    }

    @Test func upgradesKeepTheirUpgradeField() {
        let text = Self.typicalRequests[5]
        #expect(
            writeRequest(text, policy: Self.policy(.none, .none), upgrade: true)
                == "GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\nConnection: upgrade\r\n\r\n"
        )
        #expect(
            writeRequest(text, policy: Self.policy(.none, .none), upgrade: false)
                == "GET /chat HTTP/1.1\r\nHost: x\r\nSec-WebSocket-Key: k\r\n\r\n")
    }

    @Test func headsThatDoNotFitAreNotWritten() {
        let text = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
        var head = HTTP1Head()
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { HTTP1HeadScanner.scanRequest($0, into: &head) }
        let output = UnsafeMutableRawBufferPointer.allocate(byteCount: 40, alignment: 1)
        defer { output.deallocate() }
        let written = bytes.withUnsafeBytes {
            HTTP1HeadWriter.writeRequest($0, head: head, policy: Self.policy(), upgrade: false, into: output)
        }
        #expect(written == nil)
    }

    @Test func responseHeadsGainCookieAndClose() {
        #expect(
            writeResponse(Self.typicalResponses[2], setCookie: Array("SRV=s1; Path=/".utf8), close: false)
                == "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nSet-Cookie: SRV=s1; Path=/\r\n\r\n")
        #expect(
            writeResponse(Self.typicalResponses[0], setCookie: nil, close: true)
                == "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n")
        #expect(
            writeResponse(Self.typicalResponses[4], setCookie: nil, close: false)
                == "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n")
        #expect(
            writeResponse(
                "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", setCookie: nil,
                close: false)
                == "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    }

    // MARK: Helpers

    private func scan(
        _ text: String, response: Bool = false, limits: HTTP1Limits = .init(),
        _ check: (UnsafeRawBufferPointer, HTTP1Head, HTTP1ScanResult) -> Void
    ) {
        let bytes = Array(text.utf8)
        var head = HTTP1Head()
        bytes.withUnsafeBytes { raw in
            let result =
                response
                ? HTTP1HeadScanner.scanResponse(raw, into: &head, limits: limits)
                : HTTP1HeadScanner.scanRequest(raw, into: &head, limits: limits)
            check(raw, head, result)
        }
    }

    private func scanOne(_ bytes: UnsafeRawBufferPointer, _ head: inout HTTP1Head, response: Bool) -> HTTP1ScanResult {
        response ? HTTP1HeadScanner.scanResponse(bytes, into: &head) : HTTP1HeadScanner.scanRequest(bytes, into: &head)
    }

    private func string(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self)
    }

    private func writeRequest(_ text: String, policy: HTTP1RequestPolicy, upgrade: Bool = false) -> String? {
        var head = HTTP1Head()
        let bytes = Array(text.utf8)
        let output = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 1)
        defer { output.deallocate() }
        return bytes.withUnsafeBytes { raw -> String? in
            guard HTTP1HeadScanner.scanRequest(raw, into: &head) == .complete,
                let count = HTTP1HeadWriter.writeRequest(
                    raw, head: head, policy: policy, upgrade: upgrade, into: output)
            else { return nil }
            return String(decoding: UnsafeRawBufferPointer(rebasing: output[..<count]), as: UTF8.self)
        }
    }

    private func writeResponse(_ text: String, setCookie: [UInt8]?, close: Bool) -> String? {
        var head = HTTP1Head()
        let bytes = Array(text.utf8)
        let output = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 1)
        defer { output.deallocate() }
        return bytes.withUnsafeBytes { raw -> String? in
            guard HTTP1HeadScanner.scanResponse(raw, into: &head) == .complete,
                let count = HTTP1HeadWriter.writeResponse(
                    raw, head: head, setCookie: setCookie, close: close, into: output)
            else { return nil }
            return String(decoding: UnsafeRawBufferPointer(rebasing: output[..<count]), as: UTF8.self)
        }
    }
}

/// The scanner's eight-bytes-at-once tests never miss a byte they look for, wherever it is.
@Suite struct HTTP1SyntaxTests {
    /// The bit masks say tchar (RFC 9110 section 5.6.2) for exactly its bytes.
    @Test func tokenBytesAreTchar() {
        let specials = Array("!#$%&'*+-.^_`|~".utf8)
        for value in 0...255 {
            let byte = UInt8(value)
            let tchar =
                (0x30...0x39).contains(byte) || (0x41...0x5a).contains(byte) || (0x61...0x7a).contains(byte)
                || specials.contains(byte)
            #expect(HTTP1Syntax.isTokenByte(byte) == tchar, "byte \(byte)")
        }
    }

    /// Names are compared without regard to case at every length, short ones byte by byte and
    /// longer ones by words, and one byte off anywhere is a different name.
    @Test(arguments: ["te", "host", "chunked", "upgrade!", "keep-alive", "content-length", "x-forwarded-proto"])
    func namesCompareWithoutRegardToCase(name: String) {
        let literal: StaticString
        switch name {
        case "te": literal = "te"
        case "host": literal = "host"
        case "chunked": literal = "chunked"
        case "upgrade!": literal = "upgrade!"
        case "keep-alive": literal = "keep-alive"
        case "content-length": literal = "content-length"
        default: literal = "x-forwarded-proto"
        }
        func equal(_ text: [UInt8]) -> Bool {
            // Bytes around the name, as in a head.
            let padded = Array("Xx:".utf8) + text + Array(": 1\r\n\r\n".utf8)
            return padded.withUnsafeBytes { HTTP1HeadScanner.equalsIgnoringCase($0, 3..<(3 + text.count), literal) }
        }
        let lower = Array(name.utf8)
        #expect(equal(lower))
        #expect(equal(Array(name.uppercased().utf8)))
        let alternating = zip(lower, Array(name.uppercased().utf8)).enumerated().map {
            $0.offset % 2 == 0 ? $0.element.1 : $0.element.0
        }
        #expect(equal(alternating))
        #expect(!equal(Array(lower.dropLast())))
        for position in lower.indices {
            for replacement: UInt8 in [0x0d, 0x40, 0x60, 0x7b, lower[position] ^ 0x01, lower[position] ^ 0x80] {
                var changed = lower
                changed[position] = replacement
                #expect(!equal(changed), "\(name) with byte \(replacement) at \(position)")
            }
        }
    }
}

@Suite struct HTTP1SWARTests {
    private func word(_ byte: UInt8, at position: Int, filler: UInt8) -> UInt64 {
        var bytes = [UInt8](repeating: filler, count: 8)
        bytes[position] = byte
        return bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
    }

    @Test(arguments: [UInt8(ascii: "a"), 0x80, 0xff, UInt8(ascii: "~")])
    func everyByteValueAtEveryPosition(filler: UInt8) {
        for position in 0..<8 {
            for value in 0...255 {
                let byte = UInt8(value)
                let word = word(byte, at: position, filler: filler)
                if byte == 0x0a || byte == 0x0d || byte == 0 {
                    #expect(SWAR.hasLineByte(word), "byte \(byte) at \(position)")
                } else {
                    // With visible filler nothing lower can borrow: the answer is exact.
                    #expect(!SWAR.hasLineByte(word), "byte \(byte) at \(position)")
                }
                let visible = byte > 0x20 && byte != 0x7f
                #expect(SWAR.allVisible(word) == visible, "byte \(byte) at \(position)")
            }
        }
    }

    @Test(arguments: [UInt8(ascii: "a"), UInt8(ascii: "Q"), 0x80, 0xff, 0x00])
    func lowercasingChangesExactlyTheCapitals(filler: UInt8) {
        for position in 0..<8 {
            for value in 0...255 {
                let byte = UInt8(value)
                let lowered = SWAR.lowercased(word(byte, at: position, filler: filler))
                let expectedByte = (0x41...0x5a).contains(byte) ? byte | 0x20 : byte
                let expectedFiller = (0x41...0x5a).contains(filler) ? filler | 0x20 : filler
                #expect(
                    lowered == word(expectedByte, at: position, filler: expectedFiller), "byte \(byte) at \(position)")
            }
        }
    }

    @Test func twoInterestingBytesAreBothSeen() {
        var bytes = [UInt8](repeating: UInt8(ascii: "x"), count: 8)
        bytes[2] = 0x0d
        bytes[3] = 0x0a
        let word = bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        #expect(SWAR.hasLineByte(word) && !SWAR.allVisible(word))
    }
}
