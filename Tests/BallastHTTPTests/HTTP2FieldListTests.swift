import Testing

@testable import BallastHTTPEngine

/// A response's fields as nghttp2 reads them: `:status` first, names lowercased, values as they
/// came, and every entry still pointing at its bytes after the buffers grew.
@Suite struct HTTP2FieldListTests {
    private func fields(_ list: HTTP2FieldList) -> [(String, String)] {
        (0..<list.count).map { index in
            let field = list.field(at: index)
            return (String(decoding: field.name, as: UTF8.self), String(decoding: field.value, as: UTF8.self))
        }
    }

    private func add(_ list: HTTP2FieldList, _ name: String, _ value: String) {
        Array(name.utf8).withUnsafeBytes { name in
            Array(value.utf8).withUnsafeBytes { value in list.add(lowercasing: name, value: value) }
        }
    }

    @Test(arguments: [(200, "200"), (101, "101"), (599, "599"), (42, "100"), (1234, "999")])
    func statusComesFirstInThreeDigits(status: Int, text: String) {
        let list = HTTP2FieldList()
        list.reset(status: status)
        #expect(fields(list).map { $0.0 } == [":status"])
        #expect(fields(list).first?.1 == text)
    }

    @Test func namesAreLowercasedAndValuesKept() {
        let list = HTTP2FieldList()
        list.reset(status: 200)
        add(list, "Content-Type", "Text/HTML; Charset=UTF-8")
        add(list, "X-Odd_Name~1", "")
        list.add(name: "set-cookie", value: UnsafeRawBufferPointer(start: nil, count: 0))
        #expect(fields(list).map { $0.0 } == [":status", "content-type", "x-odd_name~1", "set-cookie"])
        #expect(fields(list).map { $0.1 } == ["200", "Text/HTML; Charset=UTF-8", "", ""])
    }

    /// Small buffers grow several times over one response; what was added before is intact.
    @Test func entriesFollowTheirBytesWhenTheBuffersGrow() {
        let list = HTTP2FieldList(bytes: 16, fields: 2)
        for round in 0..<3 {
            list.reset(status: 200 + round)
            var expected = [(":status", "\(200 + round)")]
            for index in 0..<40 {
                let value = String(repeating: Character(UnicodeScalar(UInt8(0x61 + index % 26))), count: index * 7)
                add(list, "Field-\(index)", value)
                expected.append(("field-\(index)", value))
            }
            #expect(fields(list).map { $0.0 } == expected.map { $0.0 })
            #expect(fields(list).map { $0.1 } == expected.map { $0.1 })
        }
    }
}
