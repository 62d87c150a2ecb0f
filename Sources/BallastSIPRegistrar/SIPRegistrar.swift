public import BallastCodecs
public import BallastCore
import BallastReporting
import CoreMetrics
public import Logging
import Metrics
import Synchronization

/// The director and registrar of deployment D4: answers REGISTER and OPTIONS from the
/// published state. Shared by every SIP listener of a node and called from every engine loop
/// at once: it does no I/O and reads no clock (the edge passes the time in), its bindings and
/// nonce counts sit in shards (`BindingTables`), and what must reach the registrations file
/// comes back with the answer for the edge to save.
public final class SIPRegistrar: Sendable {
    private let state: PublishedState
    private let logger: Logger
    private let signer: NonceSigner
    private let throttle: SharedLoginThrottle
    private let tables: BindingTables
    /// Each pool's mode; moved forward by `tick` only, published in the State.
    private let resiliency = Mutex(PoolResiliency())
    private let metrics = SIPMetrics()
    private let serverHeader = "Ballast"

    /// A registrar answering from the published `state`, holding `restored` bindings (read back
    /// from the registrations file).
    public init(
        state: PublishedState, logger: Logger, restored: [String: Registrations] = [:], nonceKey: [UInt8]? = nil,
        throttle: SharedLoginThrottle = SharedLoginThrottle()
    ) {
        self.state = state
        self.logger = logger
        self.signer = NonceSigner(key: nonceKey)
        self.throttle = throttle
        self.tables = BindingTables(restored: restored)
        metrics.bindings.record(restored.values.reduce(0) { $0 + $1.bindings.values.reduce(0) { $0 + $1.count } })
    }

    /// The bindings of `aor` in force at `now` at the registrar of `pool`.
    public func bindings(of aor: String, at pool: String, now: RegistrarTime = .now) -> [Binding] {
        tables.bindings(of: aor, at: pool, wall: now.wall)
    }

    /// Pools whose users their backup registrar serves now.
    public var lostPools: Set<String> { state.current.lostPools }

    /// Moves pool modes forward to `now` (publishing the lost pools in the State) and drops
    /// lapsed bindings, returning the lists to save; the edge calls it often (every 100 ms), so
    /// that failover does not wait for a REGISTER to notice.
    public func tick(now: RegistrarTime) -> [BindingChange] {
        let state = self.state.current
        guard let settings = state.topology.sip else { return [] }
        let (transitions, lost) = resiliency.withLock { resiliency in
            let transitions = resiliency.advance(
                state: state, failureDetection: settings.failureDetection, fallback: settings.fallback, now: now.instant
            )
            return (transitions, resiliency.lost)
        }
        self.state.setLostPools(lost)
        let (changes, live) = tables.removeExpired(wall: now.wall)
        metrics.bindings.record(live)
        metrics.lostPools.record(lost.count)
        for transition in transitions {
            let backup = state.topology.pool(named: transition.pool)?.backupPool ?? "none"
            if transition.lost {
                logger.warning(
                    "sip home pool lost: its backup registrar accepts its users in resiliency mode",
                    metadata: ["pool": "\(transition.pool)", "backup": "\(backup)"])
            } else {
                logger.notice(
                    "sip home pool back: its users are redirected home at their next REGISTER",
                    metadata: ["pool": "\(transition.pool)", "backup": "\(backup)"])
            }
        }
        return changes
    }

    /// The answer to one message, or nil when none is due (a response, an ACK).
    /// `servedPool` is the pool whose registrar the listener is; nil for the director.
    public func respond(
        to request: SIPMessage, from source: SIPSource, servedPool: String?, now: RegistrarTime = .now
    ) -> SIPMessage? {
        answer(to: request, from: source, servedPool: servedPool, now: now)?.message
    }

    /// The answer to one message and how long to hold it back (a failed login is answered later
    /// and later), or nil when none is due (a response, an ACK).
    public func answer(
        to request: SIPMessage, from source: SIPSource, servedPool: String?, now: RegistrarTime
    ) -> SIPAnswer? {
        guard case .request(let method, _) = request.startLine else { return nil }
        if method == "ACK" { return nil }
        var source = source
        switch Self.checkHeaders(request, method: method) {
        case .failure(let problem):
            return SIPAnswer(answer(request, source, 400, "Bad Request (\(problem.description))"))
        case .success(let (via, to)):
            source.topVia = via
            source.to = to
        }
        if request.version != "SIP/2.0" {
            return SIPAnswer(answer(request, source, 505, "Version Not Supported"))
        }
        // Before any challenge: a request that may travel no further (RFC 3261 16.3).
        if let hops = request.first("Max-Forwards") {
            let words = hops.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard words.count == 1, let value = Int(words[0]), (0...255).contains(value) else {
                return SIPAnswer(
                    answer(request, source, 400, "Bad Request (Max-Forwards is not a number from 0 to 255)"))
            }
            if value == 0 { return SIPAnswer(answer(request, source, 483, "Too Many Hops")) }
        }
        let state = self.state.current
        guard let settings = state.sip else { return SIPAnswer(answer(request, source, 503, "Service Unavailable")) }
        switch method {
        case "OPTIONS":
            var response = answer(request, source, 200, "OK")
            response.add("Allow", "REGISTER, OPTIONS, ACK")
            response.add("Accept", "application/sdp")
            response.add("Supported", "path")
            return SIPAnswer(response)
        case "REGISTER":
            return register(
                request, source: source, servedPool: servedPool, state: state, settings: settings, time: now)
        default:
            var response = answer(request, source, 405, "Method Not Allowed")
            response.add("Allow", "REGISTER, OPTIONS, ACK")
            return SIPAnswer(response)
        }
    }

    /// Counts and logs (summarised under a flood) bytes that are not a SIP message; the listener
    /// drops them or closes.
    public func reportMalformed(_ reason: SIPParseError, from source: SIPSource) {
        metrics.malformed.increment()
        BadInputLog.shared.report(
            listener: "sip-\(source.transport)", reason: "malformed message", client: "\(source.host):\(source.port)",
            logger: logger, detail: reason.description)
    }

    /// The answer in place of one whose binding changes could not be written to the
    /// registrations file: logged, and a 500 the phone retries.
    public func bindingsNotSaved(_ request: SIPMessage, from source: SIPSource) -> SIPMessage {
        logger.error(
            "sip binding not saved: the registrations file cannot be written",
            metadata: ["client": "\(source.host):\(source.port)", "call-id": "\(request.callID ?? "-")"])
        var source = source
        source.topVia = request.first("Via").flatMap { SIPVia($0) }
        return answer(request, source, 500, "Server Internal Error (bindings cannot be saved)")
    }

    // MARK: REGISTER

    private func register(
        _ request: SIPMessage, source: SIPSource, servedPool: String?, state: State, settings: SIPSettings,
        time: RegistrarTime
    ) -> SIPAnswer {
        guard let to = source.to ?? request.first("To").flatMap({ SIPNameAddress($0) }) else {
            return SIPAnswer(answer(request, source, 400, "Bad Request (To is not a SIP URI with a user)"))
        }
        let now = time.milliseconds
        let lifetime = UInt64(settings.nonceLifetime.components.seconds * 1000)
        let credentials = request.all("Authorization").compactMap { DigestHeader($0) }
            .first { $0["realm"] == settings.realm }
        guard let credentials else { return SIPAnswer(challenge(request, source, settings, now: now, stale: false)) }
        guard let username = credentials["username"], let nonce = credentials["nonce"],
            let digestURI = credentials["uri"], let response = credentials["response"]
        else {
            return SIPAnswer(
                answer(request, source, 400, "Bad Request (Authorization lacks username, nonce, uri or response)"))
        }
        let algorithmName = credentials["algorithm"] ?? "MD5"
        guard let algorithm = DigestAlgorithm(headerValue: algorithmName), settings.algorithms.contains(algorithm)
        else {
            return SIPAnswer(challenge(request, source, settings, now: now, stale: false))
        }
        let client = IPAddress(source.host)
        if let client,
            case .refuse(let until, let reason) = throttle.check(user: username, source: client, now: time.instant)
        {
            metrics.throttled.increment()
            BadInputLog.shared.report(
                listener: "sip-\(source.transport)", reason: "login refused: \(reason.rawValue)",
                client: "\(source.host):\(source.port)", logger: logger, detail: "user \(username)")
            var refusal = answer(request, source, 403, "Forbidden (too many failed attempts)")
            refusal.add("Retry-After", "\(max(1, (until - time.instant).components.seconds))")
            return SIPAnswer(refusal)
        }
        // The nonce must be one of ours, for this algorithm; whether it is stale is told only to
        // a client that proves it holds the password.
        let issuedAt: UInt64?
        switch signer.verify(nonce, algorithm: algorithm, now: now, lifetime: lifetime) {
        case .forged: return SIPAnswer(challenge(request, source, settings, now: now, stale: false))
        case .stale: issuedAt = nil
        case .fresh(let time): issuedAt = time
        }
        let qop = credentials["qop"]
        let nc = credentials["nc"]
        let cnonce = credentials["cnonce"]
        if qop != nil && (qop != "auth" || nc == nil || cnonce == nil) {
            return SIPAnswer(answer(request, source, 400, "Bad Request (qop=auth needs nc and cnonce)"))
        }
        let (user, stored) = Self.credentials(
            of: username, algorithm: algorithm, in: state.directory, realm: settings.realm)
        // The same work for an unknown user as for a known one, so timing tells nothing.
        let ha1 = stored ?? Digest.hash("\(username):\(settings.realm):\(nonce)", algorithm)
        let expected = Digest.expectedResponse(
            ha1: ha1, method: "REGISTER", uri: digestURI, nonce: nonce, nc: nc, cnonce: cnonce, qop: qop,
            algorithm: algorithm)
        guard let user, stored != nil, Digest.constantTimeEqual(expected, response.lowercased()) else {
            metrics.authFailures.increment()
            let delay = client.map { throttle.failed(user: username, source: $0, now: time.instant) } ?? .zero
            BadInputLog.shared.report(
                listener: "sip-\(source.transport)", reason: "login refused: unknown user or wrong password",
                client: "\(source.host):\(source.port)", logger: logger, detail: "user \(username)")
            return SIPAnswer(answer(request, source, 403, "Forbidden"), delay: delay)
        }
        guard let issuedAt else { return SIPAnswer(challenge(request, source, settings, now: now, stale: true)) }
        let count = nc.flatMap { UInt32($0, radix: 16) } ?? 1
        let fresh = tables.useNonce(
            nonce, nc: count, issuedAt: issuedAt, at: servedPool ?? "", staleBefore: now - min(now, lifetime))
        guard fresh else { return SIPAnswer(challenge(request, source, settings, now: now, stale: true)) }
        if let client { throttle.succeeded(user: username, source: client, now: time.instant) }
        guard let (aor, toUser) = UserAddress.addressOfRecord(to.uri) else {
            return SIPAnswer(answer(request, source, 400, "Bad Request (To is not a SIP URI with a user)"))
        }
        // A client that names the registrar by IP address (sip:alice@10.0.0.5) means its own
        // user there, as phones configured with an IP for a domain do.
        guard
            user.sipURI == aor
                || (UserAddress.isAddressLiteral(aor) && UserAddress.addressOfRecord(user.sipURI)?.user == toUser)
        else {
            return SIPAnswer(answer(request, source, 403, "Forbidden (\(username) may not register \(aor))"))
        }
        return decide(
            request, source: source, user: user, aor: user.sipURI, servedPool: servedPool, state: state,
            settings: settings,
            time: time)
    }

    private func decide(
        _ request: SIPMessage, source: SIPSource, user: DirectoryUser, aor: String, servedPool: String?, state: State,
        settings: SIPSettings, time: RegistrarTime
    ) -> SIPAnswer {
        let lost = state.lostPools
        let decision = RegistrarDecision.decide(
            homePool: user.homePool, servedPool: servedPool, settings: settings,
            backupOf: { state.pool(named: $0)?.backupPool }, lost: lost, transport: source.transport)
        switch decision {
        case .notHomed:
            return SIPAnswer(answer(request, source, 404, "Not Found (no home pool with a registrar)"))
        case .unavailable:
            var response = answer(request, source, 480, "Temporarily Unavailable")
            response.add("Retry-After", "30")
            return SIPAnswer(response)
        case .redirect(let targets):
            // A user sent home leaves nothing behind at the registrar that redirected it.
            var changes: [BindingChange] = []
            if let servedPool, tables.removeAll(aor, at: servedPool, wall: time.wall) {
                changes.append(BindingChange(pool: servedPool, aor: aor, bindings: []))
            }
            metrics.redirects.increment()
            var response = answer(request, source, 301, "Redirect request to Home Server")
            for target in targets { response.add("Contact", "<\(target.uri)>;q=\(target.q)") }
            return SIPAnswer(response, changes: changes)
        case .register(let resiliency):
            guard let servedPool else { return SIPAnswer(answer(request, source, 500, "Server Internal Error")) }
            return bind(
                request, source: source, aor: aor, pool: servedPool, resiliency: resiliency, settings: settings,
                time: time)
        }
    }

    private func bind(
        _ request: SIPMessage, source: SIPSource, aor: String, pool: String, resiliency: Bool, settings: SIPSettings,
        time: RegistrarTime
    ) -> SIPAnswer {
        guard let callID = request.callID, let cseq = request.cseq else {
            return SIPAnswer(answer(request, source, 400, "Bad Request (Call-ID or CSeq)"))
        }
        var expires: Int?
        if let text = request.first("Expires") {
            guard let value = Int(text), value >= 0 else {
                return SIPAnswer(answer(request, source, 400, "Bad Request (Expires is not a number of seconds)"))
            }
            expires = min(value, Int(Int32.max))
        }
        var contacts: [RegisterRequest.Contact] = []
        var wildcard = false
        for value in request.all("Contact") {
            if value == "*" {
                wildcard = true
                continue
            }
            guard let address = SIPNameAddress(value), let uri = SIPURI(address.uri) else {
                return SIPAnswer(answer(request, source, 400, "Bad Request (a Contact that is not a SIP URI)"))
            }
            var contactExpires: Int?
            if case .some(.some(let text)) = address.parameter("expires") {
                guard let value = Int(text), value >= 0 else {
                    return SIPAnswer(
                        answer(request, source, 400, "Bad Request (a Contact expires that is not a number)"))
                }
                contactExpires = min(value, Int(Int32.max))
            }
            let q: String?
            if case .some(.some(let text)) = address.parameter("q") { q = text } else { q = nil }
            contacts.append(RegisterRequest.Contact(uri: uri.description, expires: contactExpires, q: q))
        }
        let registerRequest = RegisterRequest(
            contacts: contacts, wildcard: wildcard, expires: expires, callID: callID, cseq: cseq.number)
        let wall = time.wall
        let outcome = tables.apply(
            registerRequest, to: aor, at: pool, limits: RegistrationLimits(settings), resiliency: resiliency, wall: wall
        )
        switch outcome {
        case .accepted(let list):
            metrics.registrations.increment()
            var response = answer(request, source, 200, "OK")
            for binding in list {
                var contact = "<\(binding.uri)>;expires=\(binding.remaining(at: wall))"
                if let q = binding.q { contact += ";q=\(q)" }
                response.add("Contact", contact)
            }
            response.add("Date", time.httpDate)
            if resiliency {
                response.add(
                    "Presence-State",
                    "register-action=\"added\";primary-cluster-type=\"central\";is-connected-to-primary=\"no\"")
            }
            // A query (no Contact) changes nothing to save.
            let changed = !contacts.isEmpty || wildcard
            return SIPAnswer(response, changes: changed ? [BindingChange(pool: pool, aor: aor, bindings: list)] : [])
        case .intervalTooBrief(let minimum):
            var response = answer(request, source, 423, "Interval Too Brief")
            response.add("Min-Expires", "\(minimum)")
            return SIPAnswer(response)
        case .invalid(let reason):
            return SIPAnswer(answer(request, source, 400, "Bad Request (\(reason))"))
        case .outOfOrder:
            return SIPAnswer(answer(request, source, 500, "Server Internal Error (CSeq out of order)"))
        case .tooManyContacts(let limit):
            return SIPAnswer(answer(request, source, 403, "Forbidden (more than \(limit) contacts)"))
        }
    }

    private func challenge(
        _ request: SIPMessage, _ source: SIPSource, _ settings: SIPSettings, now: UInt64, stale: Bool
    ) -> SIPMessage {
        metrics.challenges.increment()
        var response = answer(request, source, 401, "Unauthorized")
        for algorithm in settings.algorithms {
            let nonce = signer.issue(now: now, algorithm: algorithm)
            response.add(
                "WWW-Authenticate",
                DigestHeader.challenge(realm: settings.realm, nonce: nonce, algorithm: algorithm.rawValue, stale: stale)
            )
        }
        return response
    }

    private func answer(_ request: SIPMessage, _ source: SIPSource, _ status: Int, _ reason: String) -> SIPMessage {
        metrics.count(method: request.method ?? "", status: status)
        var response = SIPMessageWriter.response(
            to: request, status: status, reason: reason, toTag: Self.tag(for: request), sourceHost: source.host,
            sourcePort: source.port, topVia: source.topVia)
        response.add("Server", serverHeader)
        return response
    }

    /// One To tag per Call-ID, so that retransmissions get the same one.
    private static func tag(for request: SIPMessage) -> String {
        var hasher = StableTag()
        hasher.add(request.callID ?? "")
        hasher.add(request.first("From") ?? "")
        return hasher.value
    }

    /// The user a digest username names and the HA1 to check its response with: the auth name
    /// itself, or `name@` or `name@realm` (as sipsak and others send it, as Kamailio takes it),
    /// checked with the HA1 of that spelling.
    static func credentials(
        of username: String, algorithm: DigestAlgorithm, in directory: Directory, realm: String
    ) -> (DirectoryUser?, ha1: String?) {
        if let user = directory.user(authName: username) { return (user, user.ha1[algorithm]) }
        guard let at = username.lastIndex(of: "@") else { return (nil, nil) }
        let domain = username[username.index(after: at)...].lowercased()
        guard domain.isEmpty || domain == realm.lowercased() else { return (nil, nil) }
        let name = String(username[..<at])
        guard let user = directory.user(authName: name) else { return (nil, nil) }
        return (user, user.ha1Aliases["\(name)@\(domain)"]?[algorithm])
    }

    /// The top Via and the To of a request that has every mandatory header, or what is missing.
    static func checkHeaders(_ request: SIPMessage, method: String) -> Result<(SIPVia, SIPNameAddress), SIPParseError> {
        guard let via = request.first("Via").flatMap({ SIPVia($0) }) else {
            return .failure(SIPParseError("no valid Via"))
        }
        guard let from = request.first("From"), SIPNameAddress(from) != nil else {
            return .failure(SIPParseError("no valid From"))
        }
        guard let to = request.first("To").flatMap({ SIPNameAddress($0) }) else {
            return .failure(SIPParseError("no valid To"))
        }
        guard request.callID?.isEmpty == false else { return .failure(SIPParseError("no Call-ID")) }
        guard let cseq = request.cseq, cseq.method == method else {
            return .failure(SIPParseError("no CSeq for \(method)"))
        }
        return .success((via, to))
    }
}

/// FNV-1a over text, as hex: a tag that depends only on the request.
struct StableTag {
    private var state: UInt64 = 0xcbf2_9ce4_8422_2325

    mutating func add(_ text: String) {
        for byte in text.utf8 {
            state ^= UInt64(byte)
            state &*= 0x100_0000_01b3
        }
    }

    var value: String { String(state, radix: 16) }
}
