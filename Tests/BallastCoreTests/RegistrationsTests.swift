import BallastCore
import Testing

/// The registrar's binding rules (RFC 3261 10.3), without a socket.
struct RegistrationsTests {
    let limits = RegistrationLimits(minExpires: 60, maxExpires: 3600, defaultExpires: 600, maxContacts: 3)
    let aor = "sip:alice@lab.example"

    func request(
        _ contacts: [RegisterRequest.Contact], wildcard: Bool = false, expires: Int? = nil, callID: String = "c1",
        cseq: UInt32
    ) -> RegisterRequest {
        RegisterRequest(contacts: contacts, wildcard: wildcard, expires: expires, callID: callID, cseq: cseq)
    }

    @Test func addsWithTheRightExpiryAndClampsToTheMaximum() {
        var table = Registrations()
        let outcome = table.apply(
            request(
                [.init(uri: "sip:a@1", expires: 120), .init(uri: "sip:a@2"), .init(uri: "sip:a@3", expires: 99_999)],
                expires: 300, cseq: 1),
            to: aor, limits: limits, resiliency: false, now: 1000)
        guard case .accepted(let list) = outcome else {
            Issue.record("not accepted: \(outcome)")
            return
        }
        #expect(list.map { $0.remaining(at: 1000) } == [120, 300, 3600])
        #expect(table.count(at: 1000) == 3)
        #expect(table.current(aor, at: 1121).count == 2)
    }

    @Test func theDefaultAppliesWithoutAnyExpiry() {
        var table = Registrations()
        _ = table.apply(request([.init(uri: "sip:a@1")], cseq: 1), to: aor, limits: limits, resiliency: true, now: 0)
        #expect(table.current(aor, at: 0).first?.remaining(at: 0) == 600)
        #expect(table.current(aor, at: 0).first?.resiliency == true)
    }

    @Test func refreshReplacesAndZeroRemoves() {
        var table = Registrations()
        _ = table.apply(
            request([.init(uri: "sip:a@1", expires: 100)], cseq: 1), to: aor, limits: limits, resiliency: false, now: 0)
        _ = table.apply(
            request([.init(uri: "sip:a@1", expires: 200, q: "0.5")], cseq: 2), to: aor, limits: limits,
            resiliency: false, now: 50)
        #expect(table.current(aor, at: 50).map { $0.remaining(at: 50) } == [200])
        #expect(table.current(aor, at: 50).first?.q == "0.5")
        let outcome = table.apply(
            request([.init(uri: "sip:a@1", expires: 0)], cseq: 3), to: aor, limits: limits, resiliency: false, now: 60)
        #expect(outcome == .accepted([]))
        #expect(table.bindings[aor] == nil)
        // Removing what is not there is fine.
        let outcome1 = table.apply(
            request([.init(uri: "sip:a@9")], expires: 0, cseq: 4), to: aor, limits: limits, resiliency: false, now: 60)
        #expect(outcome1 == .accepted([]))
    }

    @Test func aQueryChangesNothing() {
        var table = Registrations()
        _ = table.apply(request([.init(uri: "sip:a@1")], cseq: 1), to: aor, limits: limits, resiliency: false, now: 0)
        let before = table
        let outcome2 = table.apply(request([], cseq: 2), to: aor, limits: limits, resiliency: false, now: 1)
        #expect(outcome2 == .accepted(before.current(aor, at: 1)))
        #expect(table == before)
    }

    @Test func tooBriefIsRefusedWithTheMinimumAndChangesNothing() {
        var table = Registrations()
        let outcome = table.apply(
            request([.init(uri: "sip:a@1", expires: 120), .init(uri: "sip:a@2", expires: 30)], cseq: 1),
            to: aor, limits: limits, resiliency: false, now: 0)
        #expect(outcome == .intervalTooBrief(minExpires: 60))
        #expect(table.bindings.isEmpty)
        let outcome3 = table.apply(
            request([.init(uri: "sip:a@1", expires: -1)], cseq: 1), to: aor, limits: limits, resiliency: false, now: 0)
        #expect(outcome3 == .invalid("a negative expiry"))
    }

    @Test func wildcardRemovesAllOnlyWithExpiresZeroAndNoOtherContact() {
        var table = Registrations()
        _ = table.apply(
            request([.init(uri: "sip:a@1"), .init(uri: "sip:a@2")], cseq: 1), to: aor, limits: limits,
            resiliency: false, now: 0)
        let outcome4 = table.apply(
            request([], wildcard: true, expires: 60, cseq: 2), to: aor, limits: limits, resiliency: false, now: 0)
        #expect(outcome4 != .accepted([]))
        let outcome5 = table.apply(
            request([.init(uri: "sip:a@3")], wildcard: true, expires: 0, cseq: 2), to: aor, limits: limits,
            resiliency: false, now: 0)
        #expect(outcome5 != .accepted([]))
        let outcome6 = table.apply(
            request([], wildcard: true, cseq: 2), to: aor, limits: limits, resiliency: false, now: 0)
        #expect(outcome6 != .accepted([]))
        #expect(table.current(aor, at: 0).count == 2)
        let outcome7 = table.apply(
            request([], wildcard: true, expires: 0, cseq: 3), to: aor, limits: limits, resiliency: false, now: 0)
        #expect(outcome7 == .accepted([]))
        #expect(table.count(at: 0) == 0)
    }

    @Test func anOldCSeqOnTheSameCallIDIsOutOfOrderButAnotherCallIDIsNot() {
        var table = Registrations()
        _ = table.apply(request([.init(uri: "sip:a@1")], cseq: 5), to: aor, limits: limits, resiliency: false, now: 0)
        let outcome8 = table.apply(
            request([.init(uri: "sip:a@1")], cseq: 5), to: aor, limits: limits, resiliency: false, now: 1)
        #expect(outcome8 == .outOfOrder)
        let outcome9 = table.apply(
            request([.init(uri: "sip:a@1")], cseq: 4), to: aor, limits: limits, resiliency: false, now: 1)
        #expect(outcome9 == .outOfOrder)
        let outcome10 = table.apply(
            request([], wildcard: true, expires: 0, cseq: 5), to: aor, limits: limits, resiliency: false, now: 1)
        #expect(outcome10 == .outOfOrder)
        guard
            case .accepted = table.apply(
                request([.init(uri: "sip:a@1")], callID: "c2", cseq: 1), to: aor, limits: limits, resiliency: false,
                now: 1)
        else {
            Issue.record("a new Call-ID was refused")
            return
        }
    }

    @Test func moreContactsThanAllowedAreRefused() {
        var table = Registrations()
        let four = (1...4).map { RegisterRequest.Contact(uri: "sip:a@\($0)") }
        let outcome11 = table.apply(request(four, cseq: 1), to: aor, limits: limits, resiliency: false, now: 0)
        #expect(outcome11 == .tooManyContacts(3))
        #expect(table.bindings.isEmpty)
    }

    @Test func expiredBindingsAreDroppedAndReported() {
        var table = Registrations()
        _ = table.apply(
            request([.init(uri: "sip:a@1", expires: 60)], cseq: 1), to: aor, limits: limits, resiliency: false, now: 0)
        _ = table.apply(
            request([.init(uri: "sip:b@1", expires: 600)], cseq: 1), to: "sip:bob@lab.example", limits: limits,
            resiliency: false, now: 0)
        #expect(table.removeExpired(at: 30).isEmpty)
        #expect(table.removeExpired(at: 61) == [aor])
        #expect(table.count(at: 61) == 1)
        table.removeAll("sip:bob@lab.example")
        #expect(table.bindings.isEmpty)
    }
}
