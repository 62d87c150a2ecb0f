/// An address prefix, `10.1.0.0/16` or `2001:db8::/32`: a set of addresses for allow and exempt lists.
public struct IPPrefix: Hashable, Sendable, CustomStringConvertible {
    /// The prefix's address, bits past `length` cleared.
    public let address: IPAddress
    /// Leading bits that count: 0...32 for IPv4, 0...128 for IPv6.
    public let length: Int

    /// The prefix of `length` bits of `address`; nil when the length does not fit the family.
    public init?(_ address: IPAddress, length: Int) {
        guard length >= 0, length <= (address.family == .v4 ? 32 : 128) else { return nil }
        self.address = Self.masked(address, length)
        self.length = length
    }

    /// Reads `ADDRESS/LENGTH`, or an address alone (a prefix of one address).
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress(parts[0]) else { return nil }
        let full = address.family == .v4 ? 32 : 128
        guard parts.count == 2 else {
            self.init(address, length: full)
            return
        }
        guard parts[1].count <= 3, parts[1].allSatisfy({ $0.isASCII && $0.isNumber }), let length = Int(parts[1]) else {
            return nil
        }
        self.init(address, length: length)
    }

    /// Whether `other` lies in this prefix.
    public func contains(_ other: IPAddress) -> Bool {
        other.family == address.family && Self.masked(other, length) == address
    }

    public var description: String { "\(address)/\(length)" }

    /// `address` with the bits past `length` cleared.
    public static func masked(_ address: IPAddress, _ length: Int) -> IPAddress {
        switch address.family {
        case .v4:
            let keep: UInt64 = length <= 0 ? 0 : (0xFFFF_FFFF << UInt64(32 - min(length, 32))) & 0xFFFF_FFFF
            let value = address.low & keep
            return IPAddress(
                v4: UInt8(value >> 24 & 0xFF), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF))
        case .v6:
            func mask(_ bits: Int) -> UInt64 { bits <= 0 ? 0 : bits >= 64 ? .max : ~(UInt64.max >> UInt64(bits)) }
            return IPAddress(v6High: address.high & mask(length), low: address.low & mask(length - 64))
        }
    }
}
