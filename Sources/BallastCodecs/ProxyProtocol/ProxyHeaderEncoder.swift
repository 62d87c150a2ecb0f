import BallastCore

extension ProxyHeader {
    /// The 12 bytes every version 2 header starts with.
    public static let v2Signature: [UInt8] = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]

    /// The header's bytes in the given version.
    ///
    /// Version 1 cannot say LOCAL or carry extensions: LOCAL and mixed families become
    /// `PROXY UNKNOWN`, and extensions are left out, as the spec directs.
    public func encoded(as version: Version) -> [UInt8] {
        switch version {
        case .v1: return encodedV1()
        case .v2: return encodedV2()
        }
    }

    private func encodedV1() -> [UInt8] {
        guard command == .proxy, let source, let destination, source.address.family == destination.address.family else {
            return Array("PROXY UNKNOWN\r\n".utf8)
        }
        let family = source.address.family == .v4 ? "TCP4" : "TCP6"
        let line = "PROXY \(family) \(source.address) \(destination.address) \(source.port) \(destination.port)\r\n"
        return Array(line.utf8)
    }

    private func encodedV2() -> [UInt8] {
        var bytes = Self.v2Signature
        bytes.append(command == .proxy ? 0x21 : 0x20)
        var body: [UInt8] = []
        var family: UInt8 = 0x00
        if command == .proxy, let source, let destination, source.address.family == destination.address.family {
            family = source.address.family == .v4 ? 0x11 : 0x21
            body += source.address.bytes
            body += destination.address.bytes
            body += [UInt8(source.port >> 8), UInt8(source.port & 0xff)]
            body += [UInt8(destination.port >> 8), UInt8(destination.port & 0xff)]
        }
        for item in extensions {
            let length = min(item.value.count, 0xffff)
            body.append(item.type)
            body += [UInt8(length >> 8), UInt8(length & 0xff)]
            body += item.value.prefix(length)
        }
        bytes.append(family)
        let length = min(body.count, 0xffff)
        bytes += [UInt8(length >> 8), UInt8(length & 0xff)]
        bytes += body.prefix(length)
        return bytes
    }
}
