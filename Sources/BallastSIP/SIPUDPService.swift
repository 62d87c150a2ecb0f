import BallastCodecs
import BallastCore
import BallastEngine
import BallastReporting
import BallastSIPRegistrar
import CBallastLinux
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// SIP requests over UDP on the engine: one socket per listen address, read by every engine
/// loop in batches, so that many phones behind one SBC or front proxy (one source address and
/// port) still spread over every core. One datagram in, at most one out, sent back to the
/// datagram's source (what rport asks for, and what works behind NAT) from the address it was
/// sent to. An answer whose bindings must reach the registrations file first waits in its
/// loop's list until the journal's batch is on disk, and leaves from the journal's thread in
/// one sendmmsg with the others of that batch (no hop back to a loop on the way); a failed
/// login held back leaves later from the socket.
final class SIPUDPService: EngineDatagramService {
    let id = EngineListenerID.next()
    let fd: Int32
    let endpoint: Endpoint
    /// RFC 3261 section 18.1.1 keeps UDP messages under the path MTU; a datagram may still be
    /// as long as UDP allows, and that is what is read.
    let maximumDatagramSize = 65_535
    private let registrar: SIPRegistrar
    private let journal: RegistrationJournal?
    private let time: TimeSource
    /// The pool whose registrar this listener is, nil for the director.
    private let pool: String?
    private let logger: Logger
    /// Set when the server stops: answers still held back are not sent.
    private let stopped = Atomic<Bool>(false)
    /// Answers waiting for the journal, one list per engine loop, so that loops never wait
    /// for each other; the journal's thread takes each list's lock once per batch.
    private let waiting: [Waiting]

    /// An answer sent after the loop returned: to the request's sender, from the address the
    /// request came to.
    private struct Held {
        var bytes: [UInt8]
        var to: ballast_address
        var from: ballast_address
    }

    /// A 200 waiting for its bindings to be on disk, with what a 500 needs should they not be.
    private struct Pending {
        /// The journal's batch that carries the bindings.
        var batch: UInt64
        var answer: Held
        var request: SIPMessage
        var source: SIPSource
    }

    /// One loop's answers waiting for the journal, in the order of their batches.
    private final class Waiting: Sendable {
        let answers = Mutex<[Pending]>([])
    }

    /// Binds `endpoint` for the registrar of `pool` (the director when nil).
    init(
        registrar: SIPRegistrar, journal: RegistrationJournal?, endpoint: Endpoint, pool: String?, engine: Engine,
        time: TimeSource, logger: Logger
    ) throws {
        self.registrar = registrar
        self.time = time
        self.journal = journal
        waiting = (0..<engine.loopCount).map { _ in Waiting() }
        self.endpoint = endpoint
        self.pool = pool
        self.logger = logger
        fd = try UDPSocket.bind(endpoint)
        journal?.afterEachBatch { [weak self] batch, saved in self?.batchDone(batch, saved: saved) }
    }

    /// The socket closes with the last reference: an answer held back keeps it open until
    /// its time, so that it never goes out through a descriptor reused meanwhile.
    deinit { Glibc.close(fd) }

    /// Stops sending the answers held back.
    func stop() { stopped.store(true, ordering: .relaxed) }

    func answer(
        _ datagram: UnsafeRawBufferPointer, from sender: ballast_address, to destination: ballast_address,
        into answer: UnsafeMutableRawBufferPointer, context: LoopContext
    ) -> Int {
        let bytes = Array(datagram)
        if SIPMessageParser.isKeepAlive(bytes[...]) { return 0 }
        let peer = sender.endpoint
        let source = SIPSource(host: peer.map { "\($0.address)" } ?? "0.0.0.0", port: peer?.port ?? 0, transport: .udp)
        let message: SIPMessage
        do {
            message = try SIPMessageParser.parse(datagram: bytes)
        } catch {
            registrar.reportMalformed(error, from: source)
            return 0
        }
        guard let reply = registrar.answer(to: message, from: source, servedPool: pool, now: .now(from: time)) else {
            return 0
        }
        let encoded = SIPMessageWriter.encode(reply.message)
        if let journal, !reply.changes.isEmpty {
            // Submitted and listed under the list's lock: the journal's thread, done with the
            // batch, takes that lock before it looks, so it always finds the answer listed.
            let held = Held(bytes: encoded, to: sender, from: destination)
            let listed = waiting[context.loop.index].answers.withLock { answers -> Bool in
                guard let batch = journal.submit(reply.changes, lane: context.loop.index) else { return false }
                answers.append(Pending(batch: batch, answer: held, request: message, source: source))
                return true
            }
            if listed { return 0 }
            // The journal is closed (the server is stopping): answered at once, unsaved.
            let failed = SIPMessageWriter.encode(registrar.bindingsNotSaved(message, from: source))
            guard failed.count <= answer.count else { return 0 }
            failed.withUnsafeBytes { answer.copyMemory(from: $0) }
            return failed.count
        }
        guard reply.delay == .zero else {
            sendLater(Held(bytes: encoded, to: sender, from: destination), after: reply.delay)
            return 0
        }
        guard encoded.count <= answer.count else { return 0 }
        encoded.withUnsafeBytes { answer.copyMemory(from: $0) }
        return encoded.count
    }

    /// A failed login answered later. Past the bound on answers held back it is dropped (the
    /// client retransmits over UDP), so that a flood of guesses holds no more than that.
    private func sendLater(_ answer: Held, after delay: Duration) {
        _ = DelayedAnswers.shared.after(delay) { [self] in send([answer]) }
    }

    /// On the journal's thread: `batch` is on disk (or could not be written); the answers it
    /// carried leave together, each a 200 when saved, else a 500.
    private func batchDone(_ batch: UInt64, saved: Bool) {
        var answers: [Held] = []
        for list in waiting {
            let due = list.answers.withLock { listed -> [Pending] in
                let count = listed.prefix { $0.batch <= batch }.count
                defer { listed.removeFirst(count) }
                return Array(listed.prefix(count))
            }
            for pending in due {
                if saved {
                    answers.append(pending.answer)
                } else {
                    var failed = pending.answer
                    failed.bytes = SIPMessageWriter.encode(
                        registrar.bindingsNotSaved(pending.request, from: pending.source))
                    answers.append(failed)
                }
            }
        }
        send(answers)
    }

    /// Sends answers from outside the loops (the socket is safe to share), in one sendmmsg per 64.
    private func send(_ answers: [Held]) {
        guard !answers.isEmpty, !stopped.load(ordering: .relaxed) else { return }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(answers.reduce(0) { $0 + $1.bytes.count })
        for answer in answers { bytes += answer.bytes }
        bytes.withUnsafeBytes { raw in
            var offset = 0
            let items = answers.map { answer in
                defer { offset += answer.bytes.count }
                return ballast_outgoing(
                    bytes: raw.baseAddress! + offset, length: UInt(answer.bytes.count), address: answer.to,
                    source: answer.from)
            }
            _ = items.withUnsafeBufferPointer { ballast_udp_send_many(fd, $0.baseAddress, Int32($0.count)) }
        }
    }

    func droppedOversized(length: Int, from sender: ballast_address, context: LoopContext) {
        BadInputLog.shared.report(
            listener: "sip-udp \(endpoint)", reason: "datagram dropped: longer than UDP allows",
            client: "\(sender.endpoint.map { "\($0)" } ?? "-")", logger: logger, detail: "\(length) bytes")
    }

    func droppedAnswers(_ count: Int, context: LoopContext) {
        BadInputLog.shared.report(
            listener: "sip-udp \(endpoint)", reason: "answers dropped: the socket's send buffer is full", client: "-",
            logger: logger, detail: "\(count) answers")
    }

    func finishedBatch(of count: Int, context: LoopContext) {}
}
