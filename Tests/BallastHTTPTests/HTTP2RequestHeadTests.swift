import Testing

@testable import BallastHTTPEngine

/// An HTTP/2 request's fields made into the HTTP/1.1 head its server gets (RFC 9113 section
/// 8.3.1): the request line from :method and :path, Host from :authority before a Host field,
/// the Cookie crumbs joined (section 8.2.3), chunked framing for a body of unknown length.
@Suite struct HTTP2RequestHeadTests {
    /// Feeds fields as nghttp2 hands them to a stream, pseudo-fields first.
    private func head(_ fields: [(String, String)], chunked: Bool = false) -> (String, HTTP2RequestHead) {
        var head = HTTP2RequestHead()
        for (name, value) in fields { head.add(name, value) }
        head.build(chunked: chunked)
        return (String(decoding: head.text, as: UTF8.self), head)
    }

    @Test func theRequestLineAndHostComeFromThePseudoFields() {
        let (text, head) = head([
            (":method", "GET"), (":path", "/a?b=1"), (":authority", "owa.contoso.com"), ("accept", "*/*"),
        ])
        #expect(text == "GET /a?b=1 HTTP/1.1\r\nhost: owa.contoso.com\r\naccept: */*\r\n\r\n")
        #expect(!head.isConnect)
    }

    @Test func authorityWinsOverAHostFieldWhichIsUsedWithoutIt() {
        let (both, _) = head([(":method", "GET"), (":path", "/"), (":authority", "a.example"), ("host", "b.example")])
        #expect(both == "GET / HTTP/1.1\r\nhost: a.example\r\n\r\n")
        let (hostOnly, _) = head([(":method", "GET"), (":path", "/"), ("host", "b.example")])
        #expect(hostOnly == "GET / HTTP/1.1\r\nhost: b.example\r\n\r\n")
    }

    @Test func cookieCrumbsAreJoinedIntoOneField() {
        let (text, _) = head([
            (":method", "GET"), (":path", "/"), (":authority", "a"), ("cookie", "a=1"), ("x", "y"), ("cookie", "LB=s1"),
        ])
        #expect(text == "GET / HTTP/1.1\r\nhost: a\r\nx: y\r\ncookie: a=1; LB=s1\r\n\r\n")
    }

    @Test func aBodyOfUnknownLengthIsSentChunked() {
        let (text, _) = head([(":method", "POST"), (":path", "/up"), (":authority", "a")], chunked: true)
        #expect(text == "POST /up HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n")
    }

    @Test func connectIsRecognised() {
        #expect(head([(":method", "CONNECT"), (":authority", "a:443")]).1.isConnect)
        #expect(!head([(":method", "CONNEC"), (":path", "/")]).1.isConnect)
    }

    @Test func clearForgetsTheLastStreamsFields() {
        var (_, reused) = head([
            (":method", "PUT"), (":path", "/x"), (":authority", "a"), ("cookie", "c=1"), ("content-length", "3"),
        ])
        #expect(reused.hasContentLength)
        reused.clear()
        #expect(!reused.hasContentLength && reused.cookies.isEmpty && reused.fieldLines.isEmpty && reused.text.isEmpty)
        reused.add(":method", "GET")
        reused.add(":path", "/")
        reused.build(chunked: false)
        #expect(String(decoding: reused.text, as: UTF8.self) == "GET / HTTP/1.1\r\nhost: \r\n\r\n")
    }
}

extension HTTP2RequestHead {
    fileprivate mutating func add(_ name: String, _ value: String) {
        Array(name.utf8).withUnsafeBytes { name in Array(value.utf8).withUnsafeBytes { add(name: name, value: $0) } }
    }
}
