import BallastCodecs
import Testing

/// RFC 4180 CSV: quoting, line numbers for errors, and bytes that are not CSV.
struct CSVTests {
    @Test func readsQuotedFieldsAndKeepsLineNumbers() throws {
        let text = "a,b,c\r\n\"x, y\",\"say \"\"hi\"\"\",\"two\nlines\"\n\nlast,,\n"
        let records = try CSV.parse(text)
        #expect(records.map(\.fields) == [["a", "b", "c"], ["x, y", "say \"hi\"", "two\nlines"], ["last", "", ""]])
        #expect(records.map(\.line) == [1, 2, 5])
    }

    @Test(arguments: [("a,\"open\n", 1), ("a,b\"c\n", 1), ("x\n\"a\"b\n", 2)])
    func malformedTextNamesItsLine(_ text: String, line: Int) {
        #expect(throws: CSV.ParseError.self) { try CSV.parse(text) }
        do {
            _ = try CSV.parse(text)
        } catch {
            #expect(error.line == line)
        }
    }

    @Test func writtenLinesReadBack() throws {
        let fields = ["plain", "com,ma", "quo\"te", " lead", "multi\nline", ""]
        #expect(try CSV.parse(CSV.line(fields)).first?.fields == fields)
    }

    @Test func randomBytesNeverTrap() {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("a,\"\r\n ".utf8)
        for round in 0..<2000 {
            let bytes = (0..<Int.random(in: 0...120, using: &generator)).map { _ in
                round % 2 == 0
                    ? UInt8.random(in: 0...255, using: &generator) : alphabet.randomElement(using: &generator)!
            }
            _ = try? CSV.parse(String(decoding: bytes, as: UTF8.self), maxRecords: 50)
        }
    }
}
