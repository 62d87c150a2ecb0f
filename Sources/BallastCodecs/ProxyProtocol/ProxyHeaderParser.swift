import BallastCore

extension ProxyHeader {
    /// What parsing the first bytes of a connection found.
    public enum ParseResult: Hashable, Sendable {
        /// A complete header that took `consumed` bytes; the client's data follows.
        case header(ProxyHeader, version: Version, consumed: Int)
        /// So far valid; read more bytes.
        case needMoreData
        /// Not a PROXY header, or a broken one: close the connection.
        case invalid(String)
    }

    /// Largest version 1 header, CRLF included (the spec's limit).
    public static let maximumV1Length = 107
    /// Largest version 2 header Ballast accepts; the spec allows 16 + 65,535 but real ones are small.
    public static let maximumV2Length = 16 + 4096

    /// Parses a header at the start of `bytes`, which may be incomplete.
    public static func parse(_ bytes: some Collection<UInt8>) -> ParseResult {
        let data = Array(bytes.prefix(maximumV2Length))
        if data.isEmpty { return .needMoreData }
        let prefix = data.prefix(v2Signature.count)
        if prefix.elementsEqual(v2Signature.prefix(prefix.count)) {
            return prefix.count < v2Signature.count ? .needMoreData : parseV2(data)
        }
        let v1Start = Array("PROXY ".utf8)
        let head = data.prefix(v1Start.count)
        if head.elementsEqual(v1Start.prefix(head.count)) {
            return head.count < v1Start.count ? .needMoreData : parseV1(data)
        }
        return .invalid("the connection does not start with a PROXY protocol header")
    }

    private static func parseV1(_ data: [UInt8]) -> ParseResult {
        let window = data.prefix(maximumV1Length)
        guard let cr = window.firstIndex(of: 0x0d) else {
            return data.count >= maximumV1Length ? .invalid("PROXY v1 header longer than 107 bytes") : .needMoreData
        }
        guard cr + 1 < data.count else { return .needMoreData }
        guard data[cr + 1] == 0x0a else { return .invalid("PROXY v1 header not ended by CRLF") }
        guard window[..<cr].allSatisfy({ $0 >= 0x20 && $0 < 0x7f }) else {
            return .invalid("PROXY v1 header has bytes that are not printable ASCII")
        }
        let line = String(decoding: data[..<cr], as: UTF8.self)
        let fields = line.split(separator: " ", omittingEmptySubsequences: false)
        let consumed = cr + 2
        guard fields.count >= 2, fields[0] == "PROXY" else { return .invalid("malformed PROXY v1 header") }
        if fields[1] == "UNKNOWN" {
            return .header(ProxyHeader(command: .proxy), version: .v1, consumed: consumed)
        }
        guard fields.count == 6 else { return .invalid("PROXY v1 header needs 6 fields, has \(fields.count)") }
        let family: IPAddress.Family
        switch fields[1] {
        case "TCP4": family = .v4
        case "TCP6": family = .v6
        default: return .invalid("PROXY v1 header names unknown protocol \(fields[1])")
        }
        guard let sourceAddress = IPAddress(fields[2]), sourceAddress.family == family,
            let destinationAddress = IPAddress(fields[3]), destinationAddress.family == family
        else {
            return .invalid("PROXY v1 header has a bad address")
        }
        guard let sourcePort = port(fields[4]), let destinationPort = port(fields[5]) else {
            return .invalid("PROXY v1 header has a bad port")
        }
        let header = ProxyHeader(
            source: Endpoint(address: sourceAddress, port: sourcePort),
            destination: Endpoint(address: destinationAddress, port: destinationPort))
        return .header(header, version: .v1, consumed: consumed)
    }

    private static func port(_ text: Substring) -> Int? {
        guard (1...5).contains(text.count), text.allSatisfy({ $0.isASCII && $0.isNumber }),
            !(text.count > 1 && text.first == "0"), let value = Int(text), (0...65535).contains(value)
        else { return nil }
        return value
    }

    private static func parseV2(_ data: [UInt8]) -> ParseResult {
        guard data.count >= 16 else { return .needMoreData }
        let versionCommand = data[12]
        guard versionCommand >> 4 == 2 else { return .invalid("PROXY v2 header has version \(versionCommand >> 4)") }
        let command: Command
        switch versionCommand & 0x0f {
        case 0: command = .local
        case 1: command = .proxy
        default: return .invalid("PROXY v2 header has unknown command \(versionCommand & 0x0f)")
        }
        let familyProtocol = data[13]
        let length = Int(data[14]) << 8 | Int(data[15])
        let total = 16 + length
        guard total <= maximumV2Length else { return .invalid("PROXY v2 header of \(total) bytes is too long") }
        guard data.count >= total else { return .needMoreData }
        let body = Array(data[16..<total])
        var header = ProxyHeader(command: command)
        var offset = 0
        let addressFamily = familyProtocol >> 4
        let transport = familyProtocol & 0x0f
        switch (addressFamily, transport) {
        case (0, _):
            break  // UNSPEC: no addresses, the body holds only extensions.
        case (1, 1), (1, 2):
            guard body.count >= 12 else { return .invalid("PROXY v2 header too short for IPv4 addresses") }
            header.source = Endpoint(address: IPAddress(bytes: body[0..<4])!, port: Int(body[8]) << 8 | Int(body[9]))
            header.destination = Endpoint(
                address: IPAddress(bytes: body[4..<8])!, port: Int(body[10]) << 8 | Int(body[11]))
            offset = 12
        case (2, 1), (2, 2):
            guard body.count >= 36 else { return .invalid("PROXY v2 header too short for IPv6 addresses") }
            header.source = Endpoint(
                address: IPAddress(bytes: body[0..<16])!, port: Int(body[32]) << 8 | Int(body[33]))
            header.destination = Endpoint(
                address: IPAddress(bytes: body[16..<32])!, port: Int(body[34]) << 8 | Int(body[35]))
            offset = 36
        case (3, _):
            // AF_UNIX: 216 bytes of paths Ballast has no use for; skipped.
            guard body.count >= 216 else { return .invalid("PROXY v2 header too short for UNIX addresses") }
            offset = 216
        default:
            return .invalid("PROXY v2 header has unknown family/protocol 0x\(String(familyProtocol, radix: 16))")
        }
        if command == .local {
            header.source = nil
            header.destination = nil
        }
        while offset < body.count {
            guard body.count - offset >= 3 else { return .invalid("PROXY v2 header has a truncated extension") }
            let type = body[offset]
            let valueLength = Int(body[offset + 1]) << 8 | Int(body[offset + 2])
            offset += 3
            guard body.count - offset >= valueLength else {
                return .invalid("PROXY v2 extension 0x\(String(type, radix: 16)) overruns the header")
            }
            header.extensions.append(Extension(type: type, value: Array(body[offset..<(offset + valueLength)])))
            offset += valueLength
        }
        return .header(header, version: .v2, consumed: total)
    }
}
