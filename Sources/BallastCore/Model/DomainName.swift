/// A DNS name as a list of labels. Compared without regard to ASCII case, as DNS does; the
/// labels keep the case they were written in, so a question is echoed as it was asked.
public struct DomainName: Hashable, Sendable, CustomStringConvertible {
    /// The labels, leftmost first, without the root.
    public let labels: [[UInt8]]

    /// The root name.
    public static let root = DomainName(uncheckedLabels: [])

    /// Longest label and name the wire format allows.
    public static let maxLabelLength = 63
    public static let maxWireLength = 255

    init(uncheckedLabels labels: [[UInt8]]) { self.labels = labels }

    /// A name from labels; nil when a label is empty or too long, or the name too long.
    public init?(labels: [[UInt8]]) {
        guard labels.allSatisfy({ !$0.isEmpty && $0.count <= Self.maxLabelLength }),
            labels.reduce(1, { $0 + $1.count + 1 }) <= Self.maxWireLength
        else { return nil }
        self.labels = labels
    }

    /// A name from its dotted text (`sip.contoso.com` or `sip.contoso.com.`; `.` is the root).
    public init?(_ text: String) {
        if text == "." || text.isEmpty {
            self = .root
            return
        }
        var body = Substring(text)
        if body.hasSuffix(".") { body = body.dropLast() }
        let parts = body.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.allSatisfy({ part in part.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F } }) else { return nil }
        self.init(labels: parts.map { Array($0.utf8) })
    }

    /// The name with `label` in front.
    public func prepending(_ label: [UInt8]) -> DomainName? { DomainName(labels: [label] + labels) }

    /// The name without its leftmost label; nil for the root.
    public var parent: DomainName? { labels.isEmpty ? nil : DomainName(uncheckedLabels: Array(labels.dropFirst())) }

    /// Whether this name is `other` or below it.
    public func isSubdomain(of other: DomainName) -> Bool {
        guard labels.count >= other.labels.count else { return false }
        return zip(labels.suffix(other.labels.count), other.labels).allSatisfy { Self.equalFolded($0, $1) }
    }

    /// Bytes on the wire, uncompressed.
    public var wireLength: Int { labels.reduce(1) { $0 + $1.count + 1 } }

    /// The name in lower case, for lookups.
    public var folded: DomainName { DomainName(uncheckedLabels: labels.map { $0.map(Self.lower) }) }

    /// Dotted text with the trailing dot.
    public var description: String {
        labels.isEmpty ? "." : labels.map { String(decoding: $0, as: UTF8.self) }.joined(separator: ".") + "."
    }

    public static func == (lhs: DomainName, rhs: DomainName) -> Bool {
        lhs.labels.count == rhs.labels.count && zip(lhs.labels, rhs.labels).allSatisfy { equalFolded($0, $1) }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(labels.count)
        for label in labels {
            hasher.combine(label.count)
            for byte in label { hasher.combine(Self.lower(byte)) }
        }
    }

    static func lower(_ byte: UInt8) -> UInt8 { byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte }

    static func equalFolded(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { lower($0) == lower($1) }
    }
}
