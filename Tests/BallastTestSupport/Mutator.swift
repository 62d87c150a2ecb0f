/// Makes hostile variants of valid inputs for the codec tests: every truncation, every number
/// replaced by one that is negative, zero, huge or past 64 bits, and random byte damage. Seeded,
/// so that a failure names an input that can be made again.
public struct Mutator {
    /// Numbers that have broken parsers elsewhere: signs, the edges of 16, 32 and 64 bits, and past them.
    public static let hostileNumbers = [
        "-1", "0", "-0", "+1", "00000000000000000000001", "65535", "65536", "2147483647", "2147483648", "4294967295",
        "4294967296", "9223372036854775807", "9223372036854775808", "18446744073709551615", "18446744073709551616",
        "99999999999999999999999999", "-9223372036854775808", "1e9", "0x10", " 5", "5 ",
    ]

    private var state: UInt64

    /// A mutator whose choices follow from `seed`.
    public init(seed: UInt64) { state = seed }

    /// SplitMix64.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    public mutating func below(_ bound: Int) -> Int { bound <= 0 ? 0 : Int(next() % UInt64(bound)) }

    public mutating func byte() -> UInt8 { UInt8(truncatingIfNeeded: next()) }

    /// `count` random bytes.
    public mutating func randomBytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in byte() } }

    /// Every prefix of `seed`, empty included.
    public static func truncations(_ seed: [UInt8]) -> [[UInt8]] { (0...seed.count).map { Array(seed[..<$0]) } }

    /// `seed` with each run of ASCII digits replaced, one run at a time, by each hostile number.
    public static func numberReplacements(_ seed: [UInt8]) -> [[UInt8]] {
        var runs: [Range<Int>] = []
        var index = 0
        while index < seed.count {
            guard seed[index] >= 48 && seed[index] <= 57 else {
                index += 1
                continue
            }
            let start = index
            while index < seed.count && seed[index] >= 48 && seed[index] <= 57 { index += 1 }
            runs.append(start..<index)
        }
        var out: [[UInt8]] = []
        for run in runs {
            for number in hostileNumbers {
                out.append(Array(seed[..<run.lowerBound]) + Array(number.utf8) + Array(seed[run.upperBound...]))
            }
        }
        return out
    }

    /// `seed` damaged a few times: bytes flipped, inserted, deleted, a slice repeated, a number planted.
    public mutating func damaged(_ seed: [UInt8]) -> [UInt8] {
        var bytes = seed
        for _ in 0..<(1 + below(4)) {
            switch below(6) {
            case 0 where !bytes.isEmpty: bytes[below(bytes.count)] = byte()
            case 1: bytes.insert(byte(), at: below(bytes.count + 1))
            case 2 where !bytes.isEmpty: bytes.remove(at: below(bytes.count))
            case 3 where bytes.count > 1:
                let start = below(bytes.count)
                let end = start + below(min(64, bytes.count - start)) + 1
                bytes.insert(contentsOf: bytes[start..<end], at: below(bytes.count + 1))
            case 4:
                let number = Self.hostileNumbers[below(Self.hostileNumbers.count)]
                bytes.insert(contentsOf: Array(number.utf8), at: below(bytes.count + 1))
            default:
                let interesting: [UInt8] = [
                    0, 10, 13, 32, 34, 40, 41, 44, 58, 59, 61, 64, 92, 123, 125, 0x7F, 0x80, 0xC0, 0xFF,
                ]
                bytes.insert(interesting[below(interesting.count)], at: below(bytes.count + 1))
            }
        }
        return bytes
    }

    /// Every hostile input made from `seeds`: truncations, number replacements, `damage` damaged
    /// copies of each and `random` random strings.
    public mutating func corpus(_ seeds: [[UInt8]], damage: Int = 300, random: Int = 300) -> [[UInt8]] {
        var out: [[UInt8]] = []
        for seed in seeds {
            out += Self.truncations(seed)
            out += Self.numberReplacements(seed)
            for _ in 0..<damage { out.append(damaged(seed)) }
        }
        for _ in 0..<random { out.append(randomBytes(below(200))) }
        return out
    }

    /// `seeds` as text corpora: the same, decoded leniently as UTF-8.
    public mutating func textCorpus(_ seeds: [String], damage: Int = 300, random: Int = 300) -> [String] {
        corpus(seeds.map { Array($0.utf8) }, damage: damage, random: random).map { String(decoding: $0, as: UTF8.self) }
    }
}
