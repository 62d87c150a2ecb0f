import BallastCore

/// Why a DNS message could not be read.
public struct DNSParseError: Error, Hashable, Sendable, CustomStringConvertible {
    public var description: String
}

/// Reads DNS messages from bytes, trusting nothing: every length is checked, compression
/// pointers must point backwards, names stay within 255 bytes.
public enum DNSMessageParser {
    /// The message in `bytes`.
    public static func parse(_ bytes: [UInt8]) throws(DNSParseError) -> DNSMessage {
        var reader = Reader(bytes: bytes)
        let id = try reader.u16()
        let flags = try reader.u16()
        var message = DNSMessage(id: id)
        message.isResponse = flags & 0x8000 != 0
        message.opcode = UInt8((flags >> 11) & 0xF)
        message.authoritative = flags & 0x0400 != 0
        message.truncated = flags & 0x0200 != 0
        message.recursionDesired = flags & 0x0100 != 0
        message.recursionAvailable = flags & 0x0080 != 0
        message.rcode = flags & 0xF
        let counts = (try reader.u16(), try reader.u16(), try reader.u16(), try reader.u16())
        for _ in 0..<counts.0 {
            let name = try reader.name()
            message.questions.append(DNSQuestion(name: name, type: try reader.u16(), dnsClass: try reader.u16()))
        }
        for _ in 0..<counts.1 { message.answers.append(try reader.record()) }
        for _ in 0..<counts.2 { message.authorities.append(try reader.record()) }
        for _ in 0..<counts.3 {
            let start = reader.offset
            let name = try reader.name()
            let type = try reader.u16()
            if type == DNSType.opt {
                guard name == .root, message.edns == nil else {
                    throw DNSParseError(description: "an OPT record that is not alone or not at the root")
                }
                let size = try reader.u16()
                let ttl = try reader.u32()
                let length = Int(try reader.u16())
                _ = try reader.bytes(length)
                message.edns = EDNS(
                    udpPayloadSize: size, extendedRCode: UInt8(ttl >> 24), version: UInt8((ttl >> 16) & 0xFF),
                    dnssecOK: ttl & 0x8000 != 0)
                message.rcode |= UInt16(ttl >> 24) << 4
            } else {
                reader.offset = start
                message.additionals.append(try reader.record())
            }
        }
        return message
    }

    /// The ID and opcode of a message whose header at least is whole, so that a FORMERR can
    /// answer it; nil for anything shorter or for a response.
    public static func header(of bytes: [UInt8]) -> (id: UInt16, opcode: UInt8, recursionDesired: Bool)? {
        guard bytes.count >= 12, bytes[2] & 0x80 == 0 else { return nil }
        return (UInt16(bytes[0]) << 8 | UInt16(bytes[1]), (bytes[2] >> 3) & 0xF, bytes[2] & 1 != 0)
    }

    struct Reader {
        let bytes: [UInt8]
        var offset = 0

        mutating func u8() throws(DNSParseError) -> UInt8 {
            guard offset < bytes.count else { throw DNSParseError(description: "the message ends early") }
            defer { offset += 1 }
            return bytes[offset]
        }

        mutating func u16() throws(DNSParseError) -> UInt16 {
            guard offset + 2 <= bytes.count else { throw DNSParseError(description: "the message ends early") }
            defer { offset += 2 }
            return UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
        }

        mutating func u32() throws(DNSParseError) -> UInt32 {
            UInt32(try u16()) << 16 | UInt32(try u16())
        }

        mutating func bytes(_ count: Int) throws(DNSParseError) -> [UInt8] {
            guard count >= 0, offset + count <= bytes.count else {
                throw DNSParseError(description: "the message ends early")
            }
            defer { offset += count }
            return Array(bytes[offset..<offset + count])
        }

        /// A name at the current offset, following compression pointers backwards only.
        mutating func name() throws(DNSParseError) -> DomainName {
            var labels: [[UInt8]] = []
            var length = 1
            var position = offset
            var jumped = false
            var lowestTarget = offset
            while true {
                guard position < bytes.count else { throw DNSParseError(description: "a name runs past the end") }
                let byte = bytes[position]
                switch byte & 0xC0 {
                case 0x00:
                    if byte == 0 {
                        if !jumped { offset = position + 1 }
                        guard let name = DomainName(labels: labels) else {
                            throw DNSParseError(description: "a name is too long")
                        }
                        return name
                    }
                    let count = Int(byte)
                    guard position + 1 + count <= bytes.count else {
                        throw DNSParseError(description: "a label runs past the end")
                    }
                    length += count + 1
                    guard length <= DomainName.maxWireLength else {
                        throw DNSParseError(description: "a name is too long")
                    }
                    labels.append(Array(bytes[position + 1..<position + 1 + count]))
                    position += 1 + count
                case 0xC0:
                    guard position + 1 < bytes.count else {
                        throw DNSParseError(description: "a pointer runs past the end")
                    }
                    let target = Int(byte & 0x3F) << 8 | Int(bytes[position + 1])
                    // Strictly backwards, and further back each time: no loop can form.
                    guard target < lowestTarget else { throw DNSParseError(description: "a compression pointer loops") }
                    if !jumped { offset = position + 2 }
                    jumped = true
                    lowestTarget = target
                    position = target
                default:
                    throw DNSParseError(description: "a label type that does not exist")
                }
            }
        }

        mutating func record() throws(DNSParseError) -> DNSRecord {
            let name = try name()
            let type = try u16()
            let dnsClass = try u16()
            let ttl = try u32()
            let length = Int(try u16())
            guard offset + length <= bytes.count else {
                throw DNSParseError(description: "record data runs past the end")
            }
            let end = offset + length
            let data: DNSRecordData
            switch type {
            case DNSType.a where length == 4:
                data = .a(IPAddress(bytes: try self.bytes(4))!)
            case DNSType.aaaa where length == 16:
                data = .aaaa(IPAddress(bytes: try self.bytes(16))!)
            case DNSType.ns: data = .ns(try self.name())
            case DNSType.cname: data = .cname(try self.name())
            case DNSType.soa:
                data = .soa(
                    primary: try self.name(), mailbox: try self.name(), serial: try u32(), refresh: try u32(),
                    retry: try u32(), expire: try u32(), minimum: try u32())
            case DNSType.mx: data = .mx(preference: try u16(), exchange: try self.name())
            case DNSType.srv:
                data = .srv(priority: try u16(), weight: try u16(), port: try u16(), target: try self.name())
            case DNSType.txt:
                var strings: [[UInt8]] = []
                while offset < end { strings.append(try self.bytes(Int(try u8()))) }
                data = .txt(strings)
            case DNSType.a, DNSType.aaaa:
                throw DNSParseError(description: "an address record of the wrong length")
            default:
                data = .unknown(type: type, bytes: try self.bytes(length))
            }
            guard offset == end else { throw DNSParseError(description: "record data of the wrong length") }
            return DNSRecord(name: name, ttl: ttl, data: data, dnsClass: dnsClass)
        }
    }
}
