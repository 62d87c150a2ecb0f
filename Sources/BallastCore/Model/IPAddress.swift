/// An IPv4 or IPv6 address as its raw bytes.
///
/// Servers, listeners and clients are named by literal addresses; the core parses
/// and compares them without touching the network stack.
public struct IPAddress: Hashable, Sendable, CustomStringConvertible {
    /// Address family.
    public enum Family: Sendable, Hashable {
        case v4
        case v6
    }

    /// The address family.
    public let family: Family
    /// High 64 bits (IPv6) or zero (IPv4).
    public let high: UInt64
    /// Low 64 bits (IPv6) or the 32-bit IPv4 address in the low bits.
    public let low: UInt64

    private init(family: Family, high: UInt64, low: UInt64) {
        self.family = family
        self.high = high
        self.low = low
    }

    /// An IPv6 address from its two 64-bit halves, most significant first.
    public init(v6High high: UInt64, low: UInt64) {
        self.init(family: .v6, high: high, low: low)
    }

    /// An IPv4 address from its four octets in network order.
    public init(v4 a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
        self.init(family: .v4, high: 0, low: UInt64(a) << 24 | UInt64(b) << 16 | UInt64(c) << 8 | UInt64(d))
    }

    /// An address from its bytes in network order: 4 bytes for IPv4, 16 for IPv6.
    public init?(bytes: some Collection<UInt8>) {
        let array = Array(bytes)
        switch array.count {
        case 4:
            self.init(v4: array[0], array[1], array[2], array[3])
        case 16:
            var high: UInt64 = 0
            var low: UInt64 = 0
            for i in 0..<8 { high = high << 8 | UInt64(array[i]) }
            for i in 8..<16 { low = low << 8 | UInt64(array[i]) }
            self.init(family: .v6, high: high, low: low)
        default:
            return nil
        }
    }

    /// Parses a literal such as `10.0.0.1`, `::1` or `fe80::1` (no zone, no brackets).
    public init?(_ text: some StringProtocol) {
        if text.contains(":") {
            guard let bytes = IPAddress.parseV6(Substring(text)) else { return nil }
            self.init(bytes: bytes)
        } else {
            guard let bytes = IPAddress.parseV4(Substring(text)) else { return nil }
            self.init(bytes: bytes)
        }
    }

    /// The address bytes in network order.
    /// Whether the address is on the loopback network (127.0.0.0/8 or ::1): reachable only from this machine.
    public var isLoopback: Bool {
        switch family {
        case .v4: return low >> 24 == 127
        case .v6: return high == 0 && low == 1
        }
    }

    public var bytes: [UInt8] {
        switch family {
        case .v4:
            return [UInt8(low >> 24 & 0xff), UInt8(low >> 16 & 0xff), UInt8(low >> 8 & 0xff), UInt8(low & 0xff)]
        case .v6:
            var result: [UInt8] = []
            result.reserveCapacity(16)
            for shift in stride(from: 56, through: 0, by: -8) { result.append(UInt8(high >> UInt64(shift) & 0xff)) }
            for shift in stride(from: 56, through: 0, by: -8) { result.append(UInt8(low >> UInt64(shift) & 0xff)) }
            return result
        }
    }

    /// The conventional text form (RFC 5952 for IPv6).
    public var description: String {
        switch family {
        case .v4:
            return bytes.map(String.init).joined(separator: ".")
        case .v6:
            let b = bytes
            let groups = (0..<8).map { UInt16(b[2 * $0]) << 8 | UInt16(b[2 * $0 + 1]) }
            // Longest run of two or more zero groups is shortened to "::".
            var bestStart = -1
            var bestLength = 0
            var i = 0
            while i < 8 {
                if groups[i] == 0 {
                    var j = i
                    while j < 8 && groups[j] == 0 { j += 1 }
                    if j - i > bestLength && j - i >= 2 {
                        bestStart = i
                        bestLength = j - i
                    }
                    i = j
                } else {
                    i += 1
                }
            }
            func hex(_ range: Range<Int>) -> String {
                range.map { String(groups[$0], radix: 16) }.joined(separator: ":")
            }
            if bestStart < 0 { return hex(0..<8) }
            return hex(0..<bestStart) + "::" + hex((bestStart + bestLength)..<8)
        }
    }

    private static func parseV4(_ text: Substring) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var result: [UInt8] = []
        for part in parts {
            guard (1...3).contains(part.count), part.allSatisfy({ $0.isASCII && $0.isNumber }),
                let value = UInt8(part), !(part.count > 1 && part.first == "0")
            else { return nil }
            result.append(value)
        }
        return result
    }

    private static func parseV6(_ text: Substring) -> [UInt8]? {
        guard text.count <= 45 else { return nil }
        var head: [UInt16] = []
        var tail: [UInt16] = []
        var sawGap = false
        var v4Tail: [UInt8]? = nil

        var halves: [String] = [String(text)]
        let chars = Array(text.utf8)
        var gapIndex: Int? = nil
        var i = 0
        while i + 1 < chars.count {
            if chars[i] == UInt8(ascii: ":") && chars[i + 1] == UInt8(ascii: ":") {
                guard gapIndex == nil else { return nil }
                gapIndex = i
                i += 2
            } else {
                i += 1
            }
        }
        if let gapIndex {
            halves = [
                String(decoding: chars[..<gapIndex], as: UTF8.self),
                String(decoding: chars[(gapIndex + 2)...], as: UTF8.self),
            ]
            // ":::" and friends are not valid.
            if halves[0].hasSuffix(":") || halves[1].hasPrefix(":") { return nil }
        }
        sawGap = halves.count == 2

        func groups(_ part: String, allowV4: Bool) -> [UInt16]? {
            if part.isEmpty { return [] }
            var out: [UInt16] = []
            let pieces = part.split(separator: ":", omittingEmptySubsequences: false)
            for (index, piece) in pieces.enumerated() {
                if allowV4 && index == pieces.count - 1 && piece.contains(".") {
                    guard let v4 = parseV4(Substring(piece)) else { return nil }
                    v4Tail = v4
                    continue
                }
                guard (1...4).contains(piece.count), let value = UInt16(piece, radix: 16) else { return nil }
                out.append(value)
            }
            return out
        }

        if sawGap {
            guard let h = groups(halves[0], allowV4: false), let t = groups(halves[1], allowV4: true) else {
                return nil
            }
            head = h
            tail = t
        } else {
            guard let h = groups(halves[0], allowV4: true) else { return nil }
            head = h
        }
        let v4Groups = v4Tail == nil ? 0 : 2
        let explicit = head.count + tail.count + v4Groups
        if sawGap {
            guard explicit <= 7 else { return nil }
        } else {
            guard explicit == 8 else { return nil }
        }
        var all = head + Array(repeating: 0, count: 8 - explicit) + tail
        if !sawGap { all = head }
        var bytes: [UInt8] = []
        for group in all {
            bytes.append(UInt8(group >> 8))
            bytes.append(UInt8(group & 0xff))
        }
        if let v4Tail { bytes.append(contentsOf: v4Tail) }
        return bytes.count == 16 ? bytes : nil
    }
}

/// An address and port, as a listener binds or a relay connects.
public struct Endpoint: Hashable, Sendable, CustomStringConvertible {
    /// The IP address.
    public var address: IPAddress
    /// The TCP or UDP port.
    public var port: Int

    /// An endpoint from an address and port.
    public init(address: IPAddress, port: Int) {
        self.address = address
        self.port = port
    }

    /// Parses `10.0.0.1:443` or `[::1]:443`.
    public init?(_ text: some StringProtocol) {
        let s = Substring(text)
        if s.hasPrefix("[") {
            guard let close = s.firstIndex(of: "]") else { return nil }
            let host = s[s.index(after: s.startIndex)..<close]
            let rest = s[s.index(after: close)...]
            guard rest.hasPrefix(":"), let port = Int(rest.dropFirst()), (1...65535).contains(port),
                let address = IPAddress(host), address.family == .v6
            else { return nil }
            self.init(address: address, port: port)
        } else {
            guard let colon = s.lastIndex(of: ":") else { return nil }
            guard let address = IPAddress(s[..<colon]), address.family == .v4,
                let port = Int(s[s.index(after: colon)...]), (1...65535).contains(port)
            else { return nil }
            self.init(address: address, port: port)
        }
    }

    /// `10.0.0.1:443` or `[::1]:443`.
    public var description: String {
        switch address.family {
        case .v4: return "\(address):\(port)"
        case .v6: return "[\(address)]:\(port)"
        }
    }
}
