/// RFC 4180 comma-separated values: quoted fields with doubled quotes, CRLF or LF line ends.
public enum CSV {
    /// Why a CSV text cannot be read.
    public struct ParseError: Error, Hashable, Sendable, CustomStringConvertible {
        /// The 1-based line where the problem starts.
        public var line: Int
        /// What is wrong.
        public var message: String

        public var description: String { "line \(line): \(message)" }
    }

    /// One record and the line it starts on.
    public struct Record: Hashable, Sendable {
        /// 1-based line of the record's first character.
        public var line: Int
        /// The fields.
        public var fields: [String]
    }

    /// The records of `text`; blank lines are skipped. At most `maxRecords` records.
    public static func parse(_ text: String, maxRecords: Int = 1_000_000) throws(ParseError) -> [Record] {
        var records: [Record] = []
        var fields: [String] = []
        var field: [UInt8] = []
        var quoted = false
        var fieldWasQuoted = false
        var line = 1
        var recordLine = 1
        var bytes = Array(text.utf8)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        var index = 0

        func endField() {
            fields.append(String(decoding: field, as: UTF8.self))
            field.removeAll(keepingCapacity: true)
            fieldWasQuoted = false
        }
        func endRecord() throws(ParseError) {
            endField()
            if !(fields.count == 1 && fields[0].isEmpty) {
                guard records.count < maxRecords else {
                    throw ParseError(line: recordLine, message: "more than \(maxRecords) records")
                }
                records.append(Record(line: recordLine, fields: fields))
            }
            fields.removeAll()
        }

        while index < bytes.count {
            let byte = bytes[index]
            if quoted {
                if byte == UInt8(ascii: "\"") {
                    if index + 1 < bytes.count && bytes[index + 1] == UInt8(ascii: "\"") {
                        field.append(byte)
                        index += 1
                    } else {
                        quoted = false
                    }
                } else {
                    if byte == UInt8(ascii: "\n") { line += 1 }
                    field.append(byte)
                }
            } else {
                switch byte {
                case UInt8(ascii: ","):
                    endField()
                case UInt8(ascii: "\""):
                    guard field.isEmpty && !fieldWasQuoted else {
                        throw ParseError(
                            line: line,
                            message: "a quote inside an unquoted field; quote the whole field and double inner quotes")
                    }
                    quoted = true
                    fieldWasQuoted = true
                case UInt8(ascii: "\r"):
                    break
                case UInt8(ascii: "\n"):
                    try endRecord()
                    line += 1
                    recordLine = line
                default:
                    guard !fieldWasQuoted else {
                        throw ParseError(line: line, message: "text after a closing quote; separate fields with commas")
                    }
                    field.append(byte)
                }
            }
            index += 1
        }
        guard !quoted else { throw ParseError(line: recordLine, message: "a quoted field is not closed") }
        try endRecord()
        return records
    }

    /// One CSV line for `fields`, quoting those that need it.
    public static func line(_ fields: [String]) -> String {
        fields.map { field in
            guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) || field.hasPrefix(" ")
            else { return field }
            return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }.joined(separator: ",")
    }
}

extension String {
    fileprivate func replacingOccurrences(of target: String, with replacement: String) -> String {
        split(separator: Character(target), omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
