public import BallastCore

/// Response rate limiting over UDP (RRL as BIND, NSD and Knot do it), pure: an answer is
/// classified by its client's prefix and its kind (the same name and type; NXDOMAIN and errors
/// per prefix alone, so that random names do not each get their own allowance), and each class
/// has a token bucket refilled at `responsesPerSecond`. Past it, answers are dropped, except
/// one in `slip`, sent truncated so that a real resolver retries over TCP, which cannot be spoofed.
///
/// One limiter per UDP socket, touched by that socket's event loop only: no lock. The table is a
/// fixed number of slots picked by a hash; two classes meeting in one slot share a bucket until
/// one of them goes quiet, which errs on the side of limiting.
public struct ResponseRateLimiter: Sendable {
    /// What to do with one answer.
    public enum Decision: Hashable, Sendable {
        case send
        /// Send a truncated answer in its place (TC set, sections empty).
        case slip
        case drop
    }

    /// The kind of an answer, for its class.
    public enum Kind: Sendable {
        /// An answer or a referral for a name and type (the question's bytes, case-folded).
        case answer
        /// NXDOMAIN: one class per prefix.
        case nonexistent
        /// REFUSED, FORMERR and other errors: one class per prefix.
        case error
    }

    private struct Slot {
        var key: UInt64 = 0
        /// Tokens in thousandths, so that refills need no floating point.
        var tokens: Int64 = 0
        var updated: UInt64 = 0
        var dropped: UInt32 = 0
    }

    /// Slots in the table, a power of two.
    public static let capacity = 8192

    public let settings: DNSRateLimit
    private var slots: [Slot]

    /// A limiter with these settings.
    public init(settings: DNSRateLimit) {
        self.settings = settings
        self.slots = Array(repeating: Slot(), count: Self.capacity)
    }

    /// Whether `client` is exempt from limiting.
    public func isExempt(_ client: IPAddress) -> Bool { settings.exempt.contains { $0.contains(client) } }

    /// The decision for one answer of `kind` to `client`, whose question is `question` (the
    /// query's question bytes; only read for `.answer`), at `milliseconds` on a monotonic clock.
    public mutating func decide(
        client: IPAddress, kind: Kind, question: UnsafeRawBufferPointer, milliseconds: UInt64
    ) -> Decision {
        if isExempt(client) { return .send }
        let prefix = IPPrefix.masked(
            client, client.family == .v4 ? settings.ipv4PrefixLength : settings.ipv6PrefixLength)
        var hash = StableHash.hash(prefix)
        switch kind {
        case .answer:
            var name: UInt64 = 0xcbf2_9ce4_8422_2325
            for byte in question {
                // DNS names compare without case: resolvers mixing case (0x20) are one class.
                let folded = byte >= 65 && byte <= 90 ? byte | 0x20 : byte
                name = (name ^ UInt64(folded)) &* 0x0000_0100_0000_01b3
            }
            hash = StableHash.combine(hash, name)
        case .nonexistent: hash = StableHash.combine(hash, 1)
        case .error: hash = StableHash.combine(hash, 2)
        }
        let rate = Int64(settings.responsesPerSecond) * 1000
        let index = Int(truncatingIfNeeded: hash) & (Self.capacity - 1)
        var slot = slots[index]
        if slot.key != hash {
            slot = Slot(key: hash, tokens: rate, updated: milliseconds)
        } else {
            let elapsed = Int64(min(milliseconds &- slot.updated, 60_000))
            slot.tokens = min(rate, slot.tokens + elapsed * Int64(settings.responsesPerSecond))
            slot.updated = milliseconds
        }
        let decision: Decision
        if slot.tokens >= 1000 {
            slot.tokens -= 1000
            decision = .send
        } else {
            slot.dropped &+= 1
            decision = settings.slip > 0 && slot.dropped % UInt32(settings.slip) == 0 ? .slip : .drop
        }
        slots[index] = slot
        return decision
    }

    /// The truncated answer that replaces a limited one: the query's header and question with
    /// QR and TC set and every other section empty; nil when the query is not whole.
    public static func truncatedAnswer(to query: UnsafeRawBufferPointer) -> [UInt8]? {
        guard let end = questionEnd(query) else { return nil }
        var bytes = Array(query[0..<end])
        bytes[2] = (bytes[2] | 0x80 | 0x02) & ~0x04  // QR, TC; not authoritative
        bytes[3] &= 0xF0  // RCODE NOERROR (RA, Z and AD kept as the query had them)
        bytes[4] = 0
        bytes[5] = 1
        for index in 6..<12 { bytes[index] = 0 }
        return bytes
    }

    /// Where the first question of a query ends (past its type and class); nil when it does not.
    public static func questionEnd(_ query: UnsafeRawBufferPointer) -> Int? {
        guard query.count >= 12, query[4] == 0, query[5] >= 1 else { return nil }
        var offset = 12
        while offset < query.count {
            let length = Int(query[offset])
            if length == 0 {
                offset += 1
                return offset + 4 <= query.count ? offset + 4 : nil
            }
            guard length < 64 else { return nil }
            offset += 1 + length
        }
        return nil
    }
}
