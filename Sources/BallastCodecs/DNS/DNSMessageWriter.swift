import BallastCore

/// Writes DNS messages, compressing names (RFC 1035 section 4.1.4).
public enum DNSMessageWriter {
    /// The bytes of `message`. When they exceed `limit` the message goes out truncated: TC set,
    /// the question and OPT kept, every record section left empty (RFC 2181 section 9).
    public static func serialize(_ message: DNSMessage, limit: Int = 65535) -> [UInt8] {
        let whole = write(message)
        guard whole.count > limit else { return whole }
        var truncated = message
        truncated.truncated = true
        truncated.answers = []
        truncated.authorities = []
        truncated.additionals = []
        return write(truncated)
    }

    private static func write(_ message: DNSMessage) -> [UInt8] {
        var writer = Writer()
        writer.u16(message.id)
        var flags: UInt16 = 0
        if message.isResponse { flags |= 0x8000 }
        flags |= UInt16(message.opcode & 0xF) << 11
        if message.authoritative { flags |= 0x0400 }
        if message.truncated { flags |= 0x0200 }
        if message.recursionDesired { flags |= 0x0100 }
        if message.recursionAvailable { flags |= 0x0080 }
        flags |= message.rcode & 0xF
        writer.u16(flags)
        writer.u16(UInt16(message.questions.count))
        writer.u16(UInt16(message.answers.count))
        writer.u16(UInt16(message.authorities.count))
        writer.u16(UInt16(message.additionals.count + (message.edns == nil ? 0 : 1)))
        for question in message.questions {
            writer.name(question.name)
            writer.u16(question.type)
            writer.u16(question.dnsClass)
        }
        for record in message.answers + message.authorities + message.additionals { writer.record(record) }
        if let edns = message.edns {
            writer.bytes.append(0)
            writer.u16(DNSType.opt)
            writer.u16(edns.udpPayloadSize)
            let extended = UInt32((message.rcode >> 4) & 0xFF)
            writer.u32(extended << 24 | UInt32(edns.version) << 16 | (edns.dnssecOK ? 0x8000 : 0))
            writer.u16(0)
        }
        return writer.bytes
    }

    struct Writer {
        var bytes: [UInt8] = []
        /// Offsets of names already written, by their exact labels: pointing only at the same
        /// spelling keeps each name's case as written.
        var offsets: [[[UInt8]]: Int] = [:]

        init() { bytes.reserveCapacity(512) }

        mutating func u16(_ value: UInt16) {
            bytes.append(UInt8(value >> 8))
            bytes.append(UInt8(value & 0xFF))
        }

        mutating func u32(_ value: UInt32) {
            u16(UInt16(value >> 16))
            u16(UInt16(value & 0xFFFF))
        }

        mutating func name(_ name: DomainName) {
            var suffix = name.labels[...]
            while let label = suffix.first {
                let key = Array(suffix)
                if let offset = offsets[key] {
                    u16(0xC000 | UInt16(offset))
                    return
                }
                if bytes.count < 0x3FFF { offsets[key] = bytes.count }
                bytes.append(UInt8(label.count))
                bytes.append(contentsOf: label)
                suffix = suffix.dropFirst()
            }
            bytes.append(0)
        }

        mutating func record(_ record: DNSRecord) {
            name(record.name)
            u16(record.type)
            u16(record.dnsClass)
            u32(record.ttl)
            let lengthAt = bytes.count
            u16(0)
            switch record.data {
            case .a(let address), .aaaa(let address):
                bytes.append(contentsOf: address.bytes)
            case .ns(let target), .cname(let target):
                name(target)
            case .soa(let primary, let mailbox, let serial, let refresh, let retry, let expire, let minimum):
                name(primary)
                name(mailbox)
                for value in [serial, refresh, retry, expire, minimum] { u32(value) }
            case .mx(let preference, let exchange):
                u16(preference)
                name(exchange)
            case .txt(let strings):
                for string in strings {
                    let part = string.prefix(255)
                    bytes.append(UInt8(part.count))
                    bytes.append(contentsOf: part)
                }
            case .srv(let priority, let weight, let port, let target):
                u16(priority)
                u16(weight)
                u16(port)
                // RFC 2782: the target is not compressed.
                for label in target.labels {
                    bytes.append(UInt8(label.count))
                    bytes.append(contentsOf: label)
                }
                bytes.append(0)
            case .unknown(_, let data):
                bytes.append(contentsOf: data)
            }
            let length = bytes.count - lengthAt - 2
            bytes[lengthAt] = UInt8(length >> 8)
            bytes[lengthAt + 1] = UInt8(length & 0xFF)
        }
    }
}
