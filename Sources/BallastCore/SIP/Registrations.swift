/// One contact bound to an address of record (RFC 3261 10.3).
public struct Binding: Hashable, Sendable, Codable {
    /// The contact URI, compared to find the binding again on refresh.
    public var uri: String
    /// When the binding lapses, in seconds since 1970.
    public var expiresAt: Double
    /// The Call-ID of the REGISTER that made or last refreshed it.
    public var callID: String
    /// Its CSeq number; a later request with the same Call-ID must carry a higher one.
    public var cseq: UInt32
    /// The contact's `q` preference, as written.
    public var q: String?
    /// Whether a backup registrar holds it while the user's home pool is lost.
    public var resiliency: Bool

    /// A binding.
    public init(
        uri: String, expiresAt: Double, callID: String, cseq: UInt32, q: String? = nil, resiliency: Bool = false
    ) {
        self.uri = uri
        self.expiresAt = expiresAt
        self.callID = callID
        self.cseq = cseq
        self.q = q
        self.resiliency = resiliency
    }

    /// Seconds left at `now`, never negative.
    public func remaining(at now: Double) -> Int { max(0, Int((expiresAt - now).rounded(.down))) }
}

/// What a REGISTER asks for, already read from the message.
public struct RegisterRequest: Hashable, Sendable {
    /// One contact in the request.
    public struct Contact: Hashable, Sendable {
        /// The contact URI.
        public var uri: String
        /// Its `expires` parameter, when given.
        public var expires: Int?
        /// Its `q` parameter, when given.
        public var q: String?

        /// A contact.
        public init(uri: String, expires: Int? = nil, q: String? = nil) {
            self.uri = uri
            self.expires = expires
            self.q = q
        }
    }

    /// Contacts to add, refresh or remove; empty for a query.
    public var contacts: [Contact]
    /// `Contact: *` (remove all; only with `Expires: 0`).
    public var wildcard: Bool
    /// The `Expires` header, when given.
    public var expires: Int?
    /// The Call-ID.
    public var callID: String
    /// The CSeq number.
    public var cseq: UInt32

    /// A request.
    public init(contacts: [Contact], wildcard: Bool = false, expires: Int?, callID: String, cseq: UInt32) {
        self.contacts = contacts
        self.wildcard = wildcard
        self.expires = expires
        self.callID = callID
        self.cseq = cseq
    }
}

/// Registration limits from the config.
public struct RegistrationLimits: Hashable, Sendable {
    /// Below this (and above zero) a registration is refused with 423.
    public var minExpires: Int
    /// Longer registrations are cut down to this.
    public var maxExpires: Int
    /// Used when the request gives no expiry.
    public var defaultExpires: Int
    /// Most contacts per address of record.
    public var maxContacts: Int

    /// Limits.
    public init(minExpires: Int, maxExpires: Int, defaultExpires: Int, maxContacts: Int) {
        self.minExpires = minExpires
        self.maxExpires = maxExpires
        self.defaultExpires = defaultExpires
        self.maxContacts = maxContacts
    }

    /// The limits a SIP config sets.
    public init(_ settings: SIPSettings) {
        self.init(
            minExpires: settings.minExpires, maxExpires: settings.maxExpires, defaultExpires: settings.defaultExpires,
            maxContacts: settings.maxContacts)
    }
}

/// The result of applying a REGISTER.
public enum RegisterOutcome: Hashable, Sendable {
    /// Accepted: the bindings now in force (200 lists them).
    case accepted([Binding])
    /// An expiry below the minimum: 423 with `Min-Expires`.
    case intervalTooBrief(minExpires: Int)
    /// A malformed request (wildcard misuse): 400 with the reason.
    case invalid(String)
    /// An older or repeated CSeq for a Call-ID already bound: 500 (RFC 3261 10.3 step 7).
    case outOfOrder
    /// More contacts than allowed: 403 with the reason.
    case tooManyContacts(Int)
}

/// The bindings of every address of record: a value that REGISTER requests change, so that
/// the registrar's rules are tested without a socket.
public struct Registrations: Hashable, Sendable {
    /// Bindings by address of record; lapsed ones are dropped when the record is next touched.
    public private(set) var bindings: [String: [Binding]]

    /// A table with these bindings.
    public init(bindings: [String: [Binding]] = [:]) {
        self.bindings = bindings.filter { !$0.value.isEmpty }
    }

    /// The bindings of `aor` still in force at `now`.
    public func current(_ aor: String, at now: Double) -> [Binding] {
        (bindings[aor] ?? []).filter { $0.expiresAt > now }
    }

    /// How many bindings are in force at `now`.
    public func count(at now: Double) -> Int {
        bindings.values.reduce(0) { $0 + $1.filter { $0.expiresAt > now }.count }
    }

    /// Applies a REGISTER for `aor` (RFC 3261 10.3 steps 6 to 8): adds, refreshes and
    /// removes bindings, or refuses the whole request and changes nothing.
    public mutating func apply(
        _ request: RegisterRequest, to aor: String, limits: RegistrationLimits, resiliency: Bool, now: Double
    ) -> RegisterOutcome {
        var list = current(aor, at: now)
        if request.wildcard {
            guard request.contacts.isEmpty, request.expires == 0 else {
                return .invalid("Contact: * needs Expires: 0 and no other contact")
            }
            if let existing = list.first(where: { $0.callID == request.callID }), request.cseq <= existing.cseq {
                return .outOfOrder
            }
            bindings[aor] = nil
            return .accepted([])
        }
        for contact in request.contacts {
            let asked = contact.expires ?? request.expires ?? limits.defaultExpires
            guard asked >= 0 else { return .invalid("a negative expiry") }
            if asked > 0 && asked < limits.minExpires { return .intervalTooBrief(minExpires: limits.minExpires) }
            let granted = min(asked, limits.maxExpires)
            if let index = list.firstIndex(where: { $0.uri == contact.uri }) {
                if list[index].callID == request.callID && request.cseq <= list[index].cseq { return .outOfOrder }
                if granted == 0 {
                    list.remove(at: index)
                } else {
                    list[index] = Binding(
                        uri: contact.uri, expiresAt: now + Double(granted), callID: request.callID,
                        cseq: request.cseq, q: contact.q, resiliency: resiliency)
                }
            } else if granted > 0 {
                list.append(
                    Binding(
                        uri: contact.uri, expiresAt: now + Double(granted), callID: request.callID, cseq: request.cseq,
                        q: contact.q, resiliency: resiliency))
            }
        }
        guard list.count <= limits.maxContacts else { return .tooManyContacts(limits.maxContacts) }
        bindings[aor] = list.isEmpty ? nil : list
        return .accepted(list)
    }

    /// Removes every binding of `aor` (the user was sent to another registrar).
    public mutating func removeAll(_ aor: String) {
        bindings[aor] = nil
    }

    /// Replaces the bindings of `aor`, as a journal replays them.
    public mutating func replace(_ aor: String, with list: [Binding]) {
        bindings[aor] = list.isEmpty ? nil : list
    }

    /// Drops bindings that lapsed before `now`; returns the records that changed.
    @discardableResult
    public mutating func removeExpired(at now: Double) -> [String] {
        var changed: [String] = []
        for (aor, list) in bindings {
            let live = list.filter { $0.expiresAt > now }
            if live.count != list.count {
                changed.append(aor)
                bindings[aor] = live.isEmpty ? nil : live
            }
        }
        return changed.sorted()
    }
}
