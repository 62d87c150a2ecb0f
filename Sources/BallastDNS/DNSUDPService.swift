import BallastCodecs
import BallastCore
import BallastEngine
import BallastReporting
import CBallastLinux
import CoreMetrics
import Logging

/// Queries over UDP on the engine: one socket per listen address (or several sharing it),
/// read by every engine loop in batches, one datagram in and at most one out, subject to
/// response rate limiting. Each loop keeps its own cache of encoded answers and rate limiter,
/// so the usual path takes no lock and allocates nothing.
final class DNSUDPService: EngineDatagramService {
    /// One loop's cache, rate limiter and queries not yet counted.
    ///
    /// `@unchecked Sendable`: the service is shared by every loop, but box `i` is read and
    /// written only by `answer` and `finishedBatch` on the loop whose index is `i`, which
    /// always run on that loop's one thread.
    final class LoopState: @unchecked Sendable {
        var cache = DNSAnswerCache()
        var limiter: ResponseRateLimiter?
        var uncounted = 0

        init(limiter: ResponseRateLimiter?) { self.limiter = limiter }
    }

    let id = EngineListenerID.next()
    let fd: Int32
    let endpoint: Endpoint
    /// The largest UDP payload: a query is never longer, so none is dropped for its size here.
    let maximumDatagramSize = 65_535
    private let server: DNSServer
    private let loops: [LoopState]

    /// Binds `endpoint` (sharing it with other sockets when `sharingPort`) for `loopCount` loops.
    init(server: DNSServer, endpoint: Endpoint, sharingPort: Bool, rateLimit: DNSRateLimit?, loopCount: Int) throws {
        self.server = server
        self.endpoint = endpoint
        fd = try UDPSocket.bind(endpoint, sharingPort: sharingPort)
        loops = (0..<loopCount).map { _ in LoopState(limiter: rateLimit.map(ResponseRateLimiter.init)) }
    }

    func answer(
        _ datagram: UnsafeRawBufferPointer, from sender: ballast_address, to destination: ballast_address,
        into answer: UnsafeMutableRawBufferPointer, context: LoopContext
    ) -> Int {
        let state = loops[context.loop.index]
        state.uncounted += 1
        let version = server.view.version
        var length = state.cache.answer(to: datagram, version: version, into: answer)
        if length == 0 {
            let bytes = Array(datagram)
            let turn = server.nextTurn(for: bytes)
            guard
                let fresh = server.respond(to: bytes, transport: .udp, client: Self.describe(sender), rotation: turn),
                fresh.count <= answer.count
            else { return 0 }
            fresh.withUnsafeBytes { answer.copyMemory(from: $0) }
            length = fresh.count
            // Answers to queries that could be read are kept (not FORMERR: nothing to turn).
            if fresh.count >= 12 && UInt16(fresh[3] & 0x0F) != DNSRCode.formErr {
                state.cache.store(query: datagram, version: version, served: turn) { [server] in
                    server.respond(to: bytes, transport: .udp, client: Self.describe(sender), rotation: $0)
                }
            }
        }
        guard state.limiter != nil else { return length }
        return limited(length, query: datagram, sender: sender, answer: answer, state: state, now: context.now)
    }

    /// Applies the rate limit to the answer of `length` bytes in `answer`: its length to send it
    /// (perhaps replaced by a truncated answer), 0 to drop it.
    private func limited(
        _ length: Int, query: UnsafeRawBufferPointer, sender: ballast_address, answer: UnsafeMutableRawBufferPointer,
        state: LoopState, now: UInt64
    ) -> Int {
        guard let client = sender.endpoint?.address, let limiter = state.limiter, !limiter.isExempt(client) else {
            return length
        }
        let rcode = UInt16(answer[3] & 0x0F)
        let kind: ResponseRateLimiter.Kind =
            rcode == DNSRCode.noError ? .answer : rcode == DNSRCode.nxDomain ? .nonexistent : .error
        let end = ResponseRateLimiter.questionEnd(query) ?? min(query.count, 12)
        let decision = state.limiter!.decide(
            client: client, kind: kind, question: UnsafeRawBufferPointer(rebasing: query[min(12, end)..<end]),
            milliseconds: now)
        var sent = length
        switch decision {
        case .send:
            return length
        case .drop:
            server.metrics.rateLimitedDropped.increment()
            sent = 0
        case .slip:
            server.metrics.rateLimitedSlipped.increment()
            if let truncated = ResponseRateLimiter.truncatedAnswer(to: query), truncated.count <= answer.count {
                truncated.withUnsafeBytes { answer.copyMemory(from: $0) }
                sent = truncated.count
            }
        }
        BadInputLog.shared.report(
            listener: "dns-udp", reason: "answers over the rate limit (RRL)", client: "\(client)", logger: server.logger
        )
        return sent
    }

    func droppedOversized(length: Int, from sender: ballast_address, context: LoopContext) {
        BadInputLog.shared.report(
            listener: "dns-udp", reason: "datagram dropped: longer than any DNS query", client: Self.describe(sender),
            logger: server.logger, detail: "\(length) bytes")
    }

    func droppedAnswers(_ count: Int, context: LoopContext) {
        BadInputLog.shared.report(
            listener: "dns-udp", reason: "answers dropped: the socket's send buffer is full", client: "-",
            logger: server.logger, detail: "\(count) answers")
    }

    func finishedBatch(of count: Int, context: LoopContext) {
        let state = loops[context.loop.index]
        server.metrics.udpQueries.increment(by: Int64(state.uncounted))
        state.uncounted = 0
    }

    /// Sends one datagram from this socket (a NOTIFY: secondaries see it come from the listen address).
    func send(_ bytes: [UInt8], to endpoint: Endpoint) throws(SystemError) {
        var address = ballast_address(endpoint)
        let sent = bytes.withUnsafeBytes { ballast_udp_send_to(fd, $0.baseAddress, UInt($0.count), &address) }
        guard sent >= 0 else { throw SystemError(code: Int32(-sent), operation: "send to \(endpoint)") }
    }

    private static func describe(_ address: ballast_address) -> String {
        address.endpoint.map { "\($0.address)" } ?? "-"
    }
}
