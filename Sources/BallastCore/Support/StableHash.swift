/// A 64-bit hash that is the same in every process and on every node.
///
/// Swift's `Hasher` is seeded per process, so it cannot place a client on the same
/// server after a restart or on two nodes; source-hash needs this one.
public enum StableHash {
    /// FNV-1a over bytes, finished with the MurmurHash3 mixer for avalanche.
    public static func hash(_ bytes: some Sequence<UInt8>) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            h ^= UInt64(byte)
            h &*= 0x0000_0100_0000_01b3
        }
        return mix(h)
    }

    /// Hash of a string's UTF-8 bytes.
    public static func hash(_ string: String) -> UInt64 { hash(string.utf8) }

    /// Hash of an address's bytes.
    public static func hash(_ address: IPAddress) -> UInt64 {
        mix(address.high &* 0x9e37_79b9_7f4a_7c15 ^ address.low ^ (address.family == .v6 ? 0x6 : 0x4))
    }

    /// Combines two hashes into one with full mixing.
    public static func combine(_ a: UInt64, _ b: UInt64) -> UInt64 {
        mix(a ^ (b &+ 0x9e37_79b9_7f4a_7c15 &+ (a << 6) &+ (a >> 2)))
    }

    /// MurmurHash3's 64-bit finaliser.
    @inlinable
    public static func mix(_ value: UInt64) -> UInt64 {
        var k = value
        k ^= k >> 33
        k &*= 0xff51_afd7_ed55_8ccd
        k ^= k >> 33
        k &*= 0xc4ce_b9fe_1a85_ec53
        k ^= k >> 33
        return k
    }
}
