public import BallastCore
public import CBallastLinux
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// A UDP socket that every engine loop reads and answers from (DNS, SIP over UDP). The kernel
/// wakes one loop per burst of datagrams and another when that one is busy, so one busy sender
/// (a SIP proxy, a resolver) spreads over every core, as DESIGN.md's data plane asks.
///
/// Called on the loop's thread only; the datagram and answer buffers are the loop's own slots,
/// valid for the call.
public protocol EngineDatagramService: AnyObject, Sendable {
    /// Unique among listeners and services (see `EngineListenerID.next()`).
    var id: Int { get }
    /// The UDP socket, from `UDPSocket.bind`.
    var fd: Int32 { get }
    /// Where it listens, for log lines.
    var endpoint: Endpoint { get }
    /// The longest datagram it takes; longer ones are dropped and reported.
    var maximumDatagramSize: Int { get }
    /// Answers one datagram sent by `sender` to `destination` (this host's address it was sent
    /// to): writes the answer into `answer` and returns its length, or 0 to answer nothing.
    func answer(
        _ datagram: UnsafeRawBufferPointer, from sender: ballast_address, to destination: ballast_address,
        into answer: UnsafeMutableRawBufferPointer, context: LoopContext
    ) -> Int
    /// A datagram of `length` bytes, over `maximumDatagramSize`, was dropped unanswered.
    func droppedOversized(length: Int, from sender: ballast_address, context: LoopContext)
    /// `count` answers were dropped: the socket's send buffer was full or the sender unreachable.
    func droppedAnswers(_ count: Int, context: LoopContext)
    /// A batch of `count` datagrams was answered: for counting once per batch, not per datagram.
    func finishedBatch(of count: Int, context: LoopContext)
}

/// Binding the UDP sockets `EngineDatagramService`s read.
public enum UDPSocket {
    /// A non-blocking UDP socket bound to `endpoint` that learns each datagram's destination,
    /// so that a service bound to 0.0.0.0 or :: answers from the address it was asked on;
    /// `sharingPort` lets several sockets bind the same address (SO_REUSEPORT). Its receive
    /// buffer holds `receiveBuffer` bytes (the kernel caps it at net.core.rmem_max), room for
    /// the bursts a front proxy or a resolver sends while every loop is busy.
    public static func bind(
        _ endpoint: Endpoint, sharingPort: Bool = false, receiveBuffer: Int32 = defaultReceiveBuffer
    ) throws(SystemError) -> Int32 {
        var address = ballast_address(endpoint)
        let fd = ballast_udp_bind(&address, sharingPort ? 1 : 0)
        guard fd >= 0 else { throw SystemError(code: -fd, operation: "bind UDP \(endpoint)") }
        _ = ballast_set_receive_buffer(fd, receiveBuffer)
        return fd
    }

    /// 4 MiB: a burst of thousands of requests waits in the kernel rather than being dropped.
    public static let defaultReceiveBuffer: Int32 = 4 << 20
}

extension LoopContext {
    /// Datagrams taken per call of recvmmsg, and the answers sent per call of sendmmsg.
    static let datagramBatch: Int32 = 32
    /// The largest UDP payload (65,535 less the IPv4 and UDP headers, rounded up).
    static let datagramSlotSize: Int32 = 65_536
    /// Batches read per wake before the loop turns to its other sockets; the socket stays
    /// readable (level-triggered), so what is left wakes this loop or another.
    static let datagramRounds = 4

    /// Starts reading `service`'s socket on this loop.
    public func addDatagramService(_ service: any EngineDatagramService) {
        if datagrams == nil {
            datagrams = ballast_datagrams_create(Self.datagramBatch, Self.datagramSlotSize)
            guard datagrams != nil else {
                logger.error(
                    "cannot read UDP on this engine loop: out of memory", metadata: ["listen": "\(service.endpoint)"])
                return
            }
        }
        datagramServices[service.id] = service
        // EPOLLEXCLUSIVE: a datagram wakes one loop, not all of them.
        _ = ballast_epoll_add(
            loop.epollFD, service.fd, EPOLLIN.rawValue | EPOLLEXCLUSIVE.rawValue,
            Self.datagramKind | UInt64(service.id))
    }

    /// Stops reading `service`'s socket on this loop.
    public func removeDatagramService(_ service: any EngineDatagramService) {
        guard datagramServices.removeValue(forKey: service.id) != nil else { return }
        _ = ballast_epoll_delete(loop.epollFD, service.fd)
    }

    func receiveDatagrams(for service: any EngineDatagramService) {
        guard let batch = datagrams else { return }
        let capacity = Int(ballast_datagram_answer_capacity(batch))
        for _ in 0..<Self.datagramRounds {
            let count = ballast_datagrams_receive(batch, service.fd)
            guard count > 0 else {
                if count < 0, -count != EAGAIN, -count != EWOULDBLOCK, -count != EINTR {
                    logger.warning(
                        "cannot read UDP",
                        metadata: ["listen": "\(service.endpoint)", "error": "\(SystemError.describe(-count))"])
                }
                return
            }
            for index in 0..<count {
                var sender = ballast_address()
                ballast_datagram_sender(batch, index, &sender)
                let length = Int(ballast_datagram_length(batch, index))
                if ballast_datagram_truncated(batch, index) != 0 || length > service.maximumDatagramSize {
                    service.droppedOversized(length: length, from: sender, context: self)
                    continue
                }
                var destination = ballast_address()
                ballast_datagram_destination(batch, index, &destination)
                let answered = service.answer(
                    UnsafeRawBufferPointer(start: ballast_datagram_bytes(batch, index), count: length),
                    from: sender, to: destination,
                    into: UnsafeMutableRawBufferPointer(
                        start: ballast_datagram_answer_buffer(batch, index), count: capacity),
                    context: self)
                if answered > 0 { ballast_datagram_answer(batch, index, Int32(min(answered, capacity))) }
            }
            var dropped: Int32 = 0
            _ = ballast_datagrams_send(batch, service.fd, &dropped)
            if dropped > 0 { service.droppedAnswers(Int(dropped), context: self) }
            service.finishedBatch(of: Int(count), context: self)
            guard count == Self.datagramBatch else { return }
        }
    }
}

extension Engine {
    /// Starts reading `services` and accepting on `listeners` on every loop.
    public func open(services: [any EngineDatagramService], listeners: [any EngineListener]) async {
        await onEveryLoop { context in
            for service in services { context.addDatagramService(service) }
            for listener in listeners { context.addListener(listener) }
        }
    }

    /// Stops reading `services` and accepting on `listeners` on every loop, and closes the
    /// listeners' connections; their sockets are the caller's to close.
    public func withdraw(services: [any EngineDatagramService], listeners: [any EngineListener]) async {
        await onEveryLoop { context in
            for service in services { context.removeDatagramService(service) }
            for listener in listeners {
                context.removeListener(listener)
                context.closeConnections(of: listener)
            }
        }
    }
}
