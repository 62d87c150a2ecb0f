public import BallastCore
import CBallastLinux
import Dispatch
import Foundation
public import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Ballast's data-plane threads: one epoll loop per thread, each owning the connections it
/// accepted. Listening sockets are shared by every loop; the kernel wakes one loop per
/// incoming connection (EPOLLEXCLUSIVE). Protocols plug in as `EngineListener`s and the
/// `EngineConnection`s they make.
///
/// Built directly on epoll rather than on SwiftNIO channels: per relayed connection NIO
/// spent ten times HAProxy's CPU on channel setup, which capped connections per second at
/// less than half of HAProxy's (docs/decisions/0001-relay-engine.md, 0003-data-plane-engine.md).
public final class Engine: Sendable {
    let loops: [EngineLoop]
    private let finished: [DispatchSemaphore]
    private let stopped = Mutex(false)

    /// Starts `threads` engine threads whose buffer pools hand out `bufferSize`-byte buffers.
    public init(threads: Int, bufferSize: Int, logger: Logger) throws {
        var loops: [EngineLoop] = []
        var finished: [DispatchSemaphore] = []
        let siblings = LoopDirectory()
        for index in 0..<max(1, threads) {
            let loop = try EngineLoop(index: index, bufferSize: bufferSize, logger: logger, siblings: siblings)
            let done = DispatchSemaphore(value: 0)
            try EngineThread.start(name: "ballast-engine-\(index)") {
                EngineThread.scheduleAsBatch(logger: logger)
                LoopContext(loop: loop).run()
                done.signal()
            }
            loops.append(loop)
            finished.append(done)
        }
        self.loops = loops
        self.finished = finished
        siblings.publish(loops)
    }

    /// How many loops (threads) the engine runs.
    public var loopCount: Int { loops.count }

    /// Runs `job` on every loop and waits until all have run it; nothing once stopped.
    public func onEveryLoop(_ job: @escaping @Sendable (LoopContext) -> Void) async {
        guard !stopped.withLock({ $0 }) else { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let remaining = Mutex(loops.count)
            for loop in loops {
                loop.execute { context in
                    job(context)
                    let last = remaining.withLock { count -> Bool in
                        count -= 1
                        return count == 0
                    }
                    if last { continuation.resume() }
                }
            }
        }
    }

    /// Stops every loop, closing whatever sockets they still hold, and waits for the threads.
    public func shutdown() async {
        let already = stopped.withLock { stopped in
            defer { stopped = true }
            return stopped
        }
        guard !already else { return }
        for loop in loops { loop.execute { $0.stop() } }
        for done in finished {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                DispatchQueue.global().async {
                    done.wait()
                    continuation.resume()
                }
            }
        }
        for loop in loops { loop.closeDescriptors() }
    }
}

/// A dedicated, named POSIX thread: an engine loop blocks in epoll_wait for as long as it runs,
/// which must not hold a worker of a shared pool (Dispatch's or Swift concurrency's).
enum EngineThread {
    private final class Body: Sendable {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }

    /// Puts the calling loop thread under SCHED_BATCH: the same share of the CPU, but a loop
    /// that wakes does not preempt the thread running on its core. On a machine whose cores
    /// the loops share with the servers and clients they relay for, preempting them cut
    /// their work into more, smaller rounds and left cores idle while woken threads moved
    /// between them (docs/decisions/0003-data-plane-engine.md). Where the policy is refused
    /// (a seccomp profile, say), the loop runs as before.
    static func scheduleAsBatch(logger: Logger) {
        let result = ballast_schedule_as_batch()
        guard result != 0 else { return }
        logger.warning(
            "engine thread keeps the default scheduling policy; SCHED_BATCH was refused",
            metadata: ["error": "\(SystemError.describe(-result))"])
    }

    static func start(name: String, _ body: @escaping @Sendable () -> Void) throws {
        let context = Unmanaged.passRetained(Body(body)).toOpaque()
        let result = name.withCString { cName in
            ballast_start_thread(
                { context in
                    let body = Unmanaged<Body>.fromOpaque(context!).takeRetainedValue()
                    body.run()
                }, context, cName)
        }
        guard result == 0 else {
            Unmanaged<Body>.fromOpaque(context).release()
            throw SystemError(code: -result, operation: "start thread \(name)")
        }
    }
}

/// One engine thread's handle: what other threads may touch. Everything else lives in its
/// `LoopContext`, which only the thread itself sees.
public final class EngineLoop: Sendable {
    /// The loop's position among the engine's loops.
    public let index: Int
    /// The loop's epoll set, for registering the sockets its connections own.
    public let epollFD: Int32
    let wakeFD: Int32
    let bufferSize: Int
    let logger: Logger
    private let inbox = Mutex<[@Sendable (LoopContext) -> Void]>([])
    /// Client connections open on the loop, and accepted ones on their way to it: what a loop
    /// that accepted compares to hand a client to the less loaded one. Connections to servers
    /// are not counted: idle pooled ones would make a loop look busy.
    let load = Atomic<Int>(0)
    let siblings: LoopDirectory

    init(index: Int, bufferSize: Int, logger: Logger, siblings: LoopDirectory) throws {
        self.index = index
        self.bufferSize = bufferSize
        self.logger = logger
        self.siblings = siblings
        epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epollFD >= 0 else { throw SystemError(code: errno, operation: "epoll_create1") }
        wakeFD = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        guard wakeFD >= 0 else { throw SystemError(code: errno, operation: "eventfd") }
        _ = ballast_epoll_add(epollFD, wakeFD, EPOLLIN.rawValue, LoopContext.wakeTag)
    }

    /// Runs `job` on this loop's thread, soon.
    public func execute(_ job: @escaping @Sendable (LoopContext) -> Void) {
        // Only the first job of a batch wakes the loop: it takes every queued job at once.
        let first = inbox.withLock { jobs -> Bool in
            jobs.append(job)
            return jobs.count == 1
        }
        guard first else { return }
        var one: UInt64 = 1
        _ = Glibc.write(wakeFD, &one, 8)
    }

    func takeJobs() -> [@Sendable (LoopContext) -> Void] {
        inbox.withLock { jobs in
            defer { jobs.removeAll(keepingCapacity: true) }
            return jobs
        }
    }

    func closeDescriptors() {
        Glibc.close(epollFD)
        Glibc.close(wakeFD)
    }
}

/// Every loop of an engine, known once all are made: for a loop that accepted a connection to
/// find a less loaded one.
final class LoopDirectory: Sendable {
    private let all = Mutex<[EngineLoop]>([])

    func publish(_ loops: [EngineLoop]) { all.withLock { $0 = loops } }

    var loops: [EngineLoop] { all.withLock { $0 } }
}

/// Which of a connection's two sockets an event is for: the one accepted from a client, or
/// the one the connection opened itself (to a server).
public enum ConnectionSide: Sendable {
    case front
    case back
}

/// A connection an engine loop runs: it owns its sockets and is called, on its loop's thread
/// only, when one of them has an event, when its timer is due, and when the loop continues
/// work it deferred.
public protocol EngineConnection: AnyObject {
    /// Its slot in the loop, given at accept; part of every epoll tag and timer entry.
    var slot: Int { get }
    /// The listener it was accepted from.
    var listenerID: Int { get }
    /// When its timer is due; 0 when none is armed.
    var deadline: UInt64 { get }
    /// Called once, right after the accepted socket is registered.
    func start(context: LoopContext)
    /// An epoll event on one of its sockets.
    func handle(side: ConnectionSide, flags: UInt32, context: LoopContext)
    /// A timer it armed came due; superseded ones come too, with their old deadline.
    func timerFired(at time: UInt64, context: LoopContext)
    /// The loop's next turn, after `markReady`.
    func continueMoving(context: LoopContext)
    /// The loop's next turn after it looked for events once more, after `deferUntilAfterPoll`:
    /// a half-close that must follow the bytes before it, a write that gathers more.
    func continueAfterPoll(context: LoopContext)
    /// Close everything now; must end by `context.release(self)`.
    func close(context: LoopContext)
}

/// A listening socket every loop accepts from, and the protocol that makes its connections.
public protocol EngineListener: AnyObject, Sendable {
    /// Unique among listeners (see `EngineListenerID.next()`).
    var id: Int { get }
    /// The listening socket.
    var fd: Int32 { get }
    /// Where it listens, for log lines.
    var endpoint: Endpoint { get }
    /// Counts a connection about to be accepted, unless its limit is reached.
    func reserveConnection() -> Bool
    /// Whether another connection fits under its limit.
    var hasRoom: Bool { get }
    /// A connection ended, or a reserved accept found nobody.
    func releaseConnection(on loop: EngineLoop)
    /// `loop` stopped accepting at the limit; it must be resumed when room appears.
    func loopPaused(_ loop: EngineLoop)
    /// The connection for a socket just accepted on `context`'s loop, in `slot`.
    func makeConnection(fd: Int32, peer: Endpoint?, slot: Int, context: LoopContext) -> any EngineConnection
    /// How many connections one loop accepts per wake. A connection that costs much at its
    /// start (a TLS handshake) wants few, so that the other loops take the next ones.
    var acceptBatch: Int { get }
}

extension EngineListener {
    /// As HAProxy's maxaccept for cheap connections.
    public var acceptBatch: Int { 16 }
}

/// Identities for listeners, unique in the process.
public enum EngineListenerID {
    private static let counter = Atomic<Int>(1)

    /// A fresh identity.
    public static func next() -> Int {
        counter.wrappingAdd(1, ordering: .relaxed).oldValue
    }
}

/// An engine thread's own state: its connections, timers, buffers and the listeners it
/// accepts from. Created on the thread and never leaves it.
public final class LoopContext {
    static let wakeTag: UInt64 = 0
    static let listenerKind: UInt64 = 1 << 62
    static let connectionKind: UInt64 = 2 << 62
    static let datagramKind: UInt64 = 3 << 62

    /// The thread's handle.
    public let loop: EngineLoop
    /// Milliseconds on the monotonic clock, read once per turn of the loop.
    public private(set) var now: UInt64 = ballast_now_ms()
    /// The loop's byte buffers.
    public var buffers: BufferPool
    private var connections: [(any EngineConnection)?] = []
    private var generations: [UInt32] = []
    /// Which slots hold a client connection (counted in the loop's load).
    private var accepted: [Bool] = []
    private var freeSlots: [Int] = []
    private var liveConnections = 0
    private var timers = TimerHeap()
    private var listeners: [Int: any EngineListener] = [:]
    private var pausedListeners: Set<Int> = []
    /// Connections that stopped moving bytes at the fairness cap and continue next turn.
    private var ready: [Int] = []
    /// Connections whose half-close waits for the next batch of events, and those due now.
    private var deferred: [(slot: Int, generation: UInt32)] = []
    private var deferredDue: [(slot: Int, generation: UInt32)] = []
    private var running = true
    /// The UDP sockets this loop reads (see `DatagramService.swift`), and its batch of
    /// datagram slots, made with the first.
    var datagramServices: [Int: any EngineDatagramService] = [:]
    var datagrams: OpaquePointer?
    /// The engine's other loops, read once they are all made.
    private var siblings: [EngineLoop] = []
    private let events: UnsafeMutablePointer<epoll_event>
    private static let eventCapacity = 512

    init(loop: EngineLoop) {
        self.loop = loop
        buffers = BufferPool(size: loop.bufferSize, keep: 256)
        events = .allocate(capacity: Self.eventCapacity)
    }

    deinit {
        events.deallocate()
        buffers.drain()
        ballast_datagrams_destroy(datagrams)
    }

    /// The engine's logger.
    public var logger: Logger { loop.logger }

    // MARK: The loop

    func run() {
        while running {
            var timeout: Int32 = -1
            if !ready.isEmpty || !deferred.isEmpty || !deferredDue.isEmpty {
                timeout = 0
            } else if let next = timers.nextDeadline {
                timeout = next <= now ? 0 : Int32(min(next - now, 60_000))
            }
            let count = epoll_wait(loop.epollFD, events, Int32(Self.eventCapacity), timeout)
            now = ballast_now_ms()
            if count > 0 {
                for i in 0..<Int(count) {
                    let event = events[i]
                    dispatch(tag: event.data.u64, flags: event.events)
                }
            }
            fireTimers()
            continueReady()
            finishDeferred()
        }
        shutdownAll()
    }

    func stop() {
        running = false
    }

    private func dispatch(tag: UInt64, flags: UInt32) {
        switch tag & (3 << 62) {
        case Self.connectionKind:
            let side: ConnectionSide = tag & 1 == 0 ? .front : .back
            let slot = Int((tag >> 1) & 0xff_ffff)
            let generation = UInt32(truncatingIfNeeded: tag >> 25)
            guard slot < connections.count, generations[slot] == generation, let connection = connections[slot] else {
                return  // the connection closed earlier in this batch
            }
            connection.handle(side: side, flags: flags, context: self)
        case Self.listenerKind:
            if let listener = listeners[Int(tag & 0xffff_ffff)] { accept(from: listener) }
        case Self.datagramKind:
            if let service = datagramServices[Int(tag & 0xffff_ffff)] { receiveDatagrams(for: service) }
        default:
            var value: UInt64 = 0
            _ = Glibc.read(loop.wakeFD, &value, 8)
            for job in loop.takeJobs() { job(self) }
        }
    }

    // MARK: Connections

    /// The epoll tag for one of the connection in `slot`'s sockets.
    public func tag(slot: Int, side: ConnectionSide) -> UInt64 {
        Self.connectionKind | UInt64(generations[slot]) << 25 | UInt64(slot) << 1 | (side == .back ? 1 : 0)
    }

    private func allocateSlot() -> Int {
        if let slot = freeSlots.popLast() { return slot }
        connections.append(nil)
        generations.append(0)
        accepted.append(false)
        return connections.count - 1
    }

    /// Gives a slot to a connection the loop did not accept (a connection to a server, say),
    /// so that its sockets get tags and its timer a place in the heap.
    /// `client` when it carries on a client connection the loop accepted (the protocol changed),
    /// so that it counts in the loop's load as that one did.
    public func adopt<Connection: EngineConnection>(
        client: Bool = false, _ make: (_ slot: Int) -> Connection
    ) -> Connection {
        let slot = allocateSlot()
        let connection = make(slot)
        occupy(slot, with: connection, client: client)
        return connection
    }

    /// Puts `connection` in `slot`; a client connection counts in the loop's load, unless the
    /// loop that accepted it `counted` it already.
    private func occupy(_ slot: Int, with connection: any EngineConnection, client: Bool, counted: Bool = false) {
        connections[slot] = connection
        liveConnections += 1
        guard client else { return }
        accepted[slot] = true
        if !counted { loop.load.wrappingAdd(1, ordering: .relaxed) }
    }

    /// Forgets a finished connection; events still queued for it are ignored.
    public func release(_ connection: any EngineConnection) {
        let slot = connection.slot
        guard slot < connections.count, connections[slot] === connection else { return }
        connections[slot] = nil
        generations[slot] &+= 1
        freeSlots.append(slot)
        liveConnections -= 1
        if accepted[slot] {
            accepted[slot] = false
            loop.load.wrappingSubtract(1, ordering: .relaxed)
        }
    }

    /// Arms (or re-arms) a connection's single timer. Superseded entries stay in the heap
    /// until they come due; when they outnumber the live ones the heap is rebuilt, so its
    /// size stays proportional to the connections open now.
    public func schedule(_ connection: any EngineConnection, at deadline: UInt64) {
        timers.push(.init(deadline: deadline, slot: connection.slot, generation: generations[connection.slot]))
        if timers.count > 2 * liveConnections + 4096 {
            var live: [TimerHeap.Entry] = []
            live.reserveCapacity(liveConnections)
            for (slot, connection) in connections.enumerated() {
                guard let connection, connection.deadline != 0 else { continue }
                live.append(.init(deadline: connection.deadline, slot: slot, generation: generations[slot]))
            }
            timers.rebuild(from: live)
        }
    }

    /// Asks for the connection to continue moving bytes on the next turn of the loop.
    public func markReady(_ connection: any EngineConnection) {
        ready.append(connection.slot)
    }

    /// Has the connection continue after the loop's next look for events (`continueAfterPoll`),
    /// which then does not wait.
    public func deferUntilAfterPoll(_ connection: any EngineConnection) {
        deferred.append((connection.slot, generations[connection.slot]))
    }

    private func finishDeferred() {
        if !deferredDue.isEmpty {
            let due = deferredDue
            deferredDue.removeAll(keepingCapacity: true)
            for entry in due where generations[entry.slot] == entry.generation {
                connections[entry.slot]?.continueAfterPoll(context: self)
            }
        }
        swap(&deferred, &deferredDue)
    }

    private func fireTimers() {
        while let entry = timers.popDue(now: now) {
            guard entry.slot < connections.count, generations[entry.slot] == entry.generation,
                let connection = connections[entry.slot]
            else { continue }
            connection.timerFired(at: entry.deadline, context: self)
        }
    }

    private func continueReady() {
        guard !ready.isEmpty else { return }
        let slots = ready
        ready.removeAll(keepingCapacity: true)
        for slot in slots {
            connections[slot]?.continueMoving(context: self)
        }
    }

    // MARK: Listeners

    /// Starts accepting from `listener` on this loop.
    public func addListener(_ listener: any EngineListener) {
        listeners[listener.id] = listener
        register(listener)
    }

    /// Stops accepting from `listener` on this loop.
    public func removeListener(_ listener: any EngineListener) {
        if listeners.removeValue(forKey: listener.id) != nil, !pausedListeners.contains(listener.id) {
            _ = ballast_epoll_delete(loop.epollFD, listener.fd)
        }
        pausedListeners.remove(listener.id)
    }

    private func register(_ listener: any EngineListener) {
        _ = ballast_epoll_add(
            loop.epollFD, listener.fd, EPOLLIN.rawValue | EPOLLEXCLUSIVE.rawValue,
            Self.listenerKind | UInt64(listener.id))
    }

    /// Stops this loop accepting from `listener` until `resume`: the listener is at its limit.
    private func pause(_ listener: any EngineListener) {
        guard pausedListeners.insert(listener.id).inserted else { return }
        _ = ballast_epoll_delete(loop.epollFD, listener.fd)
        listener.loopPaused(loop)
    }

    /// Accepts again from a listener paused at its limit or after running out of descriptors.
    public func resume(_ listener: any EngineListener) {
        guard listeners[listener.id] != nil, pausedListeners.remove(listener.id) != nil else { return }
        register(listener)
    }

    private func accept(from listener: any EngineListener) {
        // A bounded batch per wake, as HAProxy's maxaccept: the listening socket stays ready
        // and further connections wake another loop, so that the loops share them.
        for _ in 0..<listener.acceptBatch {
            guard listener.reserveConnection() else {
                pause(listener)
                // A connection may have ended between the check and the pause.
                if listener.hasRoom { resume(listener) }
                return
            }
            var peer = ballast_address()
            let fd = ballast_accept(listener.fd, &peer)
            if fd < 0 {
                listener.releaseConnection(on: loop)
                switch -fd {
                case EAGAIN, EWOULDBLOCK:
                    return
                case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                    logger.error(
                        "cannot accept: out of file descriptors or memory; pausing this listener for 100 ms",
                        metadata: ["listen": "\(listener.endpoint)", "error": "\(SystemError.describe(-fd))"])
                    pause(listener)
                    let loop = self.loop
                    DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(100)) {
                        loop.execute { $0.resume(listener) }
                    }
                    return
                default:
                    continue  // ECONNABORTED and the like: that client is gone
                }
            }
            let endpoint = peer.endpoint
            if let other = lessLoadedSibling() {
                // Counted there now, so that the next accepts here see it.
                other.load.wrappingAdd(1, ordering: .relaxed)
                other.execute { $0.install(fd: fd, peer: endpoint, listener: listener, counted: true) }
                continue
            }
            install(fd: fd, peer: endpoint, listener: listener, counted: false)
        }
    }

    /// The other loop to give a connection just accepted to, when this one holds clearly more
    /// (HAProxy hands accepted connections to the least loaded thread too): one loop waking
    /// for a burst of new clients would otherwise keep them all, and their requests would wait
    /// behind each other's while the other thread idles.
    private func lessLoadedSibling() -> EngineLoop? {
        if siblings.isEmpty {
            siblings = loop.siblings.loops.filter { $0 !== loop }
            if siblings.isEmpty { return nil }
        }
        let own = loop.load.load(ordering: .relaxed)
        var best: EngineLoop?
        var bestLoad = own - max(2, own / 8)
        for sibling in siblings {
            let load = sibling.load.load(ordering: .relaxed)
            if load < bestLoad {
                best = sibling
                bestLoad = load
            }
        }
        return best
    }

    /// Registers an accepted socket on this loop and starts its connection; `counted` when the
    /// loop that accepted it already added it to this loop's load.
    private func install(fd: Int32, peer: Endpoint?, listener: any EngineListener, counted: Bool) {
        guard listeners[listener.id] != nil else {
            // The listener went away while the connection was handed over.
            Glibc.close(fd)
            if counted { loop.load.wrappingSubtract(1, ordering: .relaxed) }
            listener.releaseConnection(on: loop)
            return
        }
        let slot = allocateSlot()
        let connection = listener.makeConnection(fd: fd, peer: peer, slot: slot, context: self)
        occupy(slot, with: connection, client: true, counted: counted)
        // No EPOLLOUT yet: a new socket is writable, and saying so would cost an event per
        // connection. The connection asks for it when a write to the client would block.
        _ = ballast_epoll_add(
            loop.epollFD, fd, EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLET.rawValue,
            tag(slot: slot, side: .front))
        connection.start(context: self)
    }

    /// Closes every connection accepted from `listener` (a drain deadline passed), or those of
    /// them `which` picks.
    public func closeConnections(
        of listener: any EngineListener, which: (any EngineConnection) -> Bool = { _ in true }
    ) {
        for connection in connections.compactMap({ $0 }) where connection.listenerID == listener.id && which(connection)
        {
            connection.close(context: self)
        }
    }

    private func shutdownAll() {
        for connection in connections.compactMap({ $0 }) {
            connection.close(context: self)
        }
        for listener in listeners.values where !pausedListeners.contains(listener.id) {
            _ = ballast_epoll_delete(loop.epollFD, listener.fd)
        }
        listeners.removeAll()
        for service in datagramServices.values {
            _ = ballast_epoll_delete(loop.epollFD, service.fd)
        }
        datagramServices.removeAll()
    }
}
