import BallastCodecs
import BallastCore
import BallastEngine
import BallastReporting
import CBallastLinux
import CoreMetrics
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// One client connection relayed to one server, on one relay thread.
///
/// Both sockets are registered once, edge-triggered, for reading, writing and the peer's
/// half-close. Bytes move in two flows, client to server and back; a flow reads from its
/// source only while its destination has taken everything read so far, so a slow peer
/// stops the fast one and at most one buffer per flow is held. An end of stream from one
/// side becomes a half-close of the other once the flow is drained. A connect that fails
/// is retried once on another server before the client sees anything.
final class RelayConnection: EngineConnection {
    typealias Side = ConnectionSide

    private enum Phase {
        case awaitingProxyHeader
        case connecting
        case relaying
        case closed
    }

    /// One direction of bytes.
    private struct Flow {
        var pending: PendingBytes?
        var sourceMayHaveData = true
        /// The source's peer sent its FIN (EPOLLRDHUP): read until the end is seen.
        var sourcePeerClosed = false
        var sourceEnded = false
        var destinationShut = false
        /// The half-close waits one turn of the loop: if the other side ends meanwhile, one
        /// close does both (HAProxy saves the shutdown the same way).
        var shutdownDeferred = false

        /// Everything read was delivered and nothing more will come.
        var isDone: Bool { sourceEnded && pending == nil && (destinationShut || shutdownDeferred) }
    }

    /// Most read-and-write rounds per event before yielding to other connections.
    private static let fairnessRounds = 16
    /// Most connect attempts per client: the first, and one redispatch.
    static let maximumAttempts = 2

    let slot: Int
    let listener: RelayListener
    var listenerID: Int { listener.id }
    private let runtime: RelayRuntime
    private var phase = Phase.awaitingProxyHeader
    private var front: Int32
    private var back: Int32 = -1
    private var client: Endpoint?
    private var local: Endpoint?
    private var relay: Relay?
    private var member: CandidateSet.Member?
    private var target: Endpoint?
    private var sticky: ServerKey?
    private var failed: [ServerKey] = []
    private var upstream = Flow()  // client to server
    private var downstream = Flow()  // server to client
    private var headerBytes: [UInt8] = []
    private var lastActivity: UInt64 = 0
    /// When the connection's timer is due; 0 when none is armed.
    private(set) var deadline: UInt64 = 0
    private var bytesFromClient = 0
    private var bytesFromServer = 0
    private var counted = false
    /// Whether the client socket is registered for EPOLLOUT (added the first time a write to
    /// the client would block).
    private var frontWatchesWritable = false

    init(slot: Int, listener: RelayListener, runtime: RelayRuntime, front: Int32, client: Endpoint?) {
        self.slot = slot
        self.listener = listener
        self.runtime = runtime
        self.front = front
        self.client = client
    }

    // MARK: Starting

    func start(context: LoopContext) {
        lastActivity = context.now
        guard let relay = runtime.state.current.relay(named: runtime.relayName) else {
            // The relay was removed by a reload while this client waited in the backlog.
            close(context: context)
            return
        }
        self.relay = relay
        counted = true
        runtime.metrics.accepted.increment()
        runtime.metrics.active.increment()
        if relay.acceptProxyProtocol {
            phase = .awaitingProxyHeader
            arm(at: context.now + relay.timeouts.connect.milliseconds, context: context)
            readProxyHeader(context: context)
        } else {
            connect(context: context)
        }
    }

    private func readProxyHeader(context: LoopContext) {
        let limit = ProxyHeader.maximumV2Length
        var chunk = [UInt8](repeating: 0, count: 4096)
        while phase == .awaitingProxyHeader {
            let room = min(chunk.count, limit - headerBytes.count)
            guard room > 0 else { break }
            let n = chunk.withUnsafeMutableBytes { ballast_read(front, $0.baseAddress, UInt(room)) }
            if n > 0 {
                headerBytes += chunk.prefix(Int(n))
                switch ProxyHeader.parse(headerBytes) {
                case .needMoreData:
                    continue
                case .invalid(let reason):
                    BadInputLog.shared.report(
                        listener: runtime.relayName, reason: "no valid PROXY header", client: clientText,
                        logger: runtime.logger, detail: reason)
                    close(context: context)
                    return
                case .header(let header, _, let consumed):
                    if header.command == .proxy, let source = header.source, let destination = header.destination {
                        client = source
                        local = destination
                    }
                    let rest = Array(headerBytes[consumed...])
                    headerBytes = []
                    if !rest.isEmpty {
                        upstream.pending = stage(rest, context: context)
                        bytesFromClient += rest.count
                    }
                    connect(context: context)
                    return
                }
            } else if n == -Int(EAGAIN) || n == -Int(EWOULDBLOCK) {
                return
            } else {
                close(context: context)
                return
            }
        }
    }

    // MARK: Connecting

    private func connect(context: LoopContext) {
        guard let relay else { return }
        phase = .connecting
        let state = runtime.state.current
        let clientAddress = client?.address ?? IPAddress(v4: 0, 0, 0, 0)
        if let table = runtime.stickTable, failed.isEmpty {
            sticky = table.lookup(clientAddress, now: runtime.time.now)
        }
        guard
            let member = state.choose(
                for: relay, input: runtime.balancingInput(client: clientAddress), sticky: sticky, excluding: failed)
        else {
            runtime.metrics.noServer.increment()
            runtime.logger.warning(
                "no server available",
                metadata: ["relay": "\(relay.name)", "pool": "\(relay.pool)", "client": "\(clientText)"])
            close(context: context)
            return
        }
        self.member = member
        let target = relay.target(for: member.server)
        self.target = target
        let fd = ballast_socket(target.address.family == .v6 ? 6 : 4)
        guard fd >= 0 else {
            runtime.logger.error(
                "cannot open a socket to a server",
                metadata: ["relay": "\(relay.name)", "error": "\(SystemError.describe(-fd))"])
            close(context: context)
            return
        }
        back = fd
        _ = ballast_set_nodelay(fd)
        if let size = runtime.tuning.socketReceiveBuffer { _ = ballast_set_receive_buffer(fd, Int32(size)) }
        var address = ballast_address(target)
        let result = ballast_connect(fd, &address)
        guard result == 0 || result == -EINPROGRESS else {
            connectFailed(code: -result, context: context)
            return
        }
        _ = ballast_epoll_add(
            context.loop.epollFD, fd, EPOLLIN.rawValue | EPOLLOUT.rawValue | EPOLLRDHUP.rawValue | EPOLLET.rawValue,
            context.tag(slot: slot, side: .back))
        arm(at: context.now + relay.timeouts.connect.milliseconds, context: context)
        if result == 0 {
            connected(context: context)
        } else if relay.proxyProtocol == .none {
            speculate(context: context)
        }
    }

    /// On loopback and fast networks the handshake is usually done when connect(2) returns:
    /// read what the client sent and try to pass it on at once, saving a trip through epoll.
    /// EAGAIN means still connecting (EPOLLOUT will say when); an error is a failed connect,
    /// and the bytes read stay pending for the next server.
    private func speculate(context: LoopContext) {
        if upstream.pending == nil, upstream.sourceMayHaveData {
            var flow = upstream
            let count = Self.read(into: &flow, from: front, buffers: &context.buffers)
            upstream = flow
            if count > 0 {
                bytesFromClient += count
                lastActivity = context.now
            }
            // A read error surfaces again when relaying starts.
        }
        guard upstream.pending != nil else { return }
        var flow = upstream
        let written = Self.writePending(&flow, to: back, buffers: &context.buffers)
        upstream = flow
        if written > 0 {
            connected(context: context)
        } else if written != -Int(EAGAIN) && written != -Int(EWOULDBLOCK) {
            connectFailed(code: Int32(-written), context: context)
        }
    }

    private func connected(context: LoopContext) {
        guard let relay, let member else { return }
        phase = .relaying
        member.load.opened()
        if let table = runtime.stickTable, let address = client?.address {
            table.record(address, server: member.key, now: runtime.time.now)
        }
        if relay.proxyProtocol != .none {
            if local == nil {
                var address = ballast_address()
                if ballast_local_address(front, &address) == 0 { local = address.endpoint }
            }
            let header: ProxyHeader
            if let client, let local {
                header = ProxyHeader(source: client, destination: local)
            } else {
                header = ProxyHeader(command: .proxy)
            }
            var bytes = header.encoded(as: relay.proxyProtocol == .v1 ? .v1 : .v2)
            if let early = upstream.pending {
                bytes += UnsafeRawBufferPointer(start: early.buffer + early.start, count: early.count)
                context.buffers.give(early.buffer)
                upstream.pending = nil
            }
            upstream.pending = stage(bytes, context: context)
        }
        lastActivity = context.now
        arm(at: context.now + relay.timeouts.idle.milliseconds, context: context)
        downstream.sourceMayHaveData = true
        move(.upstream, context: context)
        move(.downstream, context: context)
    }

    private func connectFailed(code: Int32, context: LoopContext) {
        let reason = code == ETIMEDOUT ? "connect timed out" : SystemError.describe(code)
        if back >= 0 {
            Glibc.close(back)
            back = -1
        }
        guard let member, let relay else { return }
        runtime.metrics.failedConnects.increment()
        member.load.connectFailed()
        let target = self.target.map(String.init(describing:)) ?? "?"
        let topology = runtime.state.current.topology
        if let pool = topology.pool(named: relay.pool),
            let probe = topology.probe(for: relay, pool: pool, server: member.server)
        {
            runtime.reportFailure(probe, "relay \(relay.name) could not connect to \(target): \(reason)")
        }
        failed.append(member.key)
        self.member = nil
        if failed.count < Self.maximumAttempts {
            runtime.logger.notice(
                "connect failed, redispatching",
                metadata: [
                    "relay": "\(relay.name)", "server": "\(member.key)", "target": "\(target)",
                    "client": "\(clientText)", "error": "\(reason)",
                ])
            connect(context: context)
        } else {
            runtime.logger.warning(
                "connect failed, closing client",
                metadata: [
                    "relay": "\(relay.name)", "servers": "\(failed.map(\.description).joined(separator: ","))",
                    "client": "\(clientText)", "error": "\(reason)",
                ])
            close(context: context)
        }
    }

    // MARK: Events

    func handle(side: Side, flags: UInt32, context: LoopContext) {
        let readable = flags & (EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0
        let writable = flags & (EPOLLOUT.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0
        switch (phase, side) {
        case (.awaitingProxyHeader, .front):
            if readable { readProxyHeader(context: context) }
        case (.connecting, .back):
            if flags & (EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0 {
                let error = ballast_socket_error(back)
                connectFailed(code: error == 0 ? ECONNREFUSED : error, context: context)
            } else if writable {
                // Writable without an error: the connect completed (no getsockopt needed).
                if flags & EPOLLRDHUP.rawValue != 0 { downstream.sourcePeerClosed = true }
                connected(context: context)
            }
        case (.connecting, .front):
            // The client's bytes wait in the kernel until the server is reached (the edge is
            // remembered, as epoll will not report it again); a reset ends it all.
            if flags & (EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0 {
                close(context: context)
            } else if readable {
                upstream.sourceMayHaveData = true
                if flags & EPOLLRDHUP.rawValue != 0 { upstream.sourcePeerClosed = true }
            }
        case (.relaying, _):
            // A side's readability moves bytes away from it; its writability moves bytes to it.
            let outgoing: Direction = side == .front ? .upstream : .downstream
            let incoming: Direction = side == .front ? .downstream : .upstream
            if readable {
                var flow = self.flow(outgoing)
                flow.sourceMayHaveData = true
                if flags & (EPOLLRDHUP.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0 {
                    flow.sourcePeerClosed = true
                }
                store(flow, outgoing)
                move(outgoing, context: context)
            }
            if writable, phase == .relaying { move(incoming, context: context) }
        default:
            break
        }
    }

    /// Half-closes the flows whose end was deferred a turn, unless the whole connection can
    /// close now.
    func continueAfterPoll(context: LoopContext) {
        guard phase == .relaying else { return }
        if upstream.isDone && downstream.isDone {
            close(context: context)
            return
        }
        for direction in [Direction.upstream, .downstream] {
            var flow = self.flow(direction)
            guard flow.shutdownDeferred, !flow.destinationShut else { continue }
            flow.shutdownDeferred = false
            flow.destinationShut = true
            store(flow, direction)
            _ = ballast_shutdown_write(direction == .upstream ? back : front)
        }
    }

    /// Picks up flows that stopped at the fairness cap.
    func continueMoving(context: LoopContext) {
        guard phase == .relaying else { return }
        move(.upstream, context: context)
        if phase == .relaying { move(.downstream, context: context) }
    }

    /// The two directions bytes move in.
    private enum Direction {
        /// Client to server.
        case upstream
        /// Server to client.
        case downstream
    }

    private func flow(_ direction: Direction) -> Flow {
        direction == .upstream ? upstream : downstream
    }

    private func store(_ flow: Flow, _ direction: Direction) {
        if direction == .upstream { upstream = flow } else { downstream = flow }
    }

    /// Moves bytes in `direction` until one side would block, the source ends, or the
    /// fairness cap is reached. The flow is copied out and stored back around every step,
    /// so that closing (which reads both flows) never overlaps an access to one.
    private func move(_ direction: Direction, context: LoopContext) {
        var rounds = 0
        while phase == .relaying {
            let source = direction == .upstream ? front : back
            let destination = direction == .upstream ? back : front
            var flow = self.flow(direction)
            if flow.pending != nil {
                let written = Self.writePending(&flow, to: destination, buffers: &context.buffers)
                store(flow, direction)
                if written > 0 { continue }
                if written == -Int(EAGAIN) || written == -Int(EWOULDBLOCK) {
                    if destination == front { watchFrontWritable(context: context) }
                    return  // EPOLLOUT resumes us
                }
                fail(code: Int32(-written), context: context)
                return
            }
            if flow.sourceEnded {
                if self.flow(direction == .upstream ? .downstream : .upstream).isDone {
                    // The other way is finished too: closing sends the FIN.
                    close(context: context)
                } else if !flow.destinationShut && !flow.shutdownDeferred {
                    flow.shutdownDeferred = true
                    store(flow, direction)
                    context.deferUntilAfterPoll(self)
                }
                return
            }
            guard flow.sourceMayHaveData else { return }
            rounds += 1
            if rounds > Self.fairnessRounds {
                context.markReady(self)
                return
            }
            let count = Self.read(into: &flow, from: source, buffers: &context.buffers)
            store(flow, direction)
            if count > 0 {
                lastActivity = context.now
                if direction == .upstream { bytesFromClient += count } else { bytesFromServer += count }
            } else if count < 0 && count != -Int(EAGAIN) && count != -Int(EWOULDBLOCK) {
                fail(code: Int32(-count), context: context)
                return
            }
        }
    }

    /// Asks epoll for the client socket's writability, once: edge-triggered, it then reports
    /// each time room appears after a write would have blocked.
    private func watchFrontWritable(context: LoopContext) {
        guard !frontWatchesWritable else { return }
        frontWatchesWritable = true
        _ = ballast_epoll_modify(
            context.loop.epollFD, front, EPOLLIN.rawValue | EPOLLOUT.rawValue | EPOLLRDHUP.rawValue | EPOLLET.rawValue,
            context.tag(slot: slot, side: .front))
    }

    /// Reads from `fd` into a pooled buffer as the flow's pending bytes; returns what read(2)
    /// returned (bytes, 0 at the end of the stream, or -errno) and notes in the flow what it
    /// says about the source.
    private static func read(into flow: inout Flow, from fd: Int32, buffers: inout BufferPool) -> Int {
        let buffer = buffers.take()
        let count = ballast_read(fd, buffer, UInt(buffers.size))
        if count > 0 {
            flow.pending = PendingBytes(buffer: buffer, start: 0, end: count)
            // A short read emptied the socket: new bytes raise a new edge. Only a FIN that
            // came with this event must still be read.
            if count < buffers.size && !flow.sourcePeerClosed { flow.sourceMayHaveData = false }
            return count
        }
        buffers.give(buffer)
        if count == 0 {
            flow.sourceEnded = true
        } else if count == -Int(EAGAIN) || count == -Int(EWOULDBLOCK) {
            flow.sourceMayHaveData = false
        }
        return count
    }

    /// Writes the flow's pending bytes to `fd`, returning the buffer to the pool once all are
    /// gone; returns what write(2) returned (bytes or -errno).
    private static func writePending(_ flow: inout Flow, to fd: Int32, buffers: inout BufferPool) -> Int {
        guard var pending = flow.pending else { return 0 }
        let written = ballast_write(fd, pending.buffer + pending.start, UInt(pending.count))
        guard written > 0 else { return written }
        pending.start += written
        if pending.count == 0 {
            buffers.give(pending.buffer)
            flow.pending = nil
        } else {
            flow.pending = pending
        }
        return written
    }

    private func fail(code: Int32, context: LoopContext) {
        runtime.logger.debug(
            "relayed connection failed",
            metadata: [
                "relay": "\(runtime.relayName)", "client": "\(clientText)", "error": "\(SystemError.describe(code))",
            ])
        close(context: context)
    }

    // MARK: Timers

    private func arm(at time: UInt64, context: LoopContext) {
        deadline = time
        context.schedule(self, at: time)
    }

    func timerFired(at time: UInt64, context: LoopContext) {
        guard time == deadline, let relay else { return }  // a superseded timer
        switch phase {
        case .awaitingProxyHeader:
            runtime.logger.info(
                "closed a client that sent no PROXY header in time",
                metadata: ["relay": "\(relay.name)", "client": "\(clientText)"])
            close(context: context)
        case .connecting:
            connectFailed(code: ETIMEDOUT, context: context)
        case .relaying:
            let idle = relay.timeouts.idle.milliseconds
            if context.now >= lastActivity + idle {
                runtime.metrics.idleTimeouts.increment()
                runtime.logger.info(
                    "idle timeout, closing",
                    metadata: [
                        "relay": "\(relay.name)", "client": "\(clientText)",
                        "server": "\(member?.key.description ?? "?")",
                    ])
                close(context: context)
            } else {
                arm(at: lastActivity + idle, context: context)
            }
        case .closed:
            break
        }
    }

    // MARK: Closing

    /// Closes both sides now, dropping whatever was not yet delivered, and accounts once.
    func close(context: LoopContext) {
        guard phase != .closed else { return }
        let wasRelaying = phase == .relaying
        phase = .closed
        Glibc.close(front)
        front = -1
        if back >= 0 {
            Glibc.close(back)
            back = -1
        }
        for pending in [upstream.pending, downstream.pending].compactMap({ $0 }) {
            context.buffers.give(pending.buffer)
        }
        upstream.pending = nil
        downstream.pending = nil
        if wasRelaying { member?.load.closed() }
        if counted {
            runtime.metrics.active.decrement()
            if bytesFromClient > 0 { runtime.metrics.bytesFromClients.increment(by: bytesFromClient) }
            if bytesFromServer > 0 { runtime.metrics.bytesFromServers.increment(by: bytesFromServer) }
        }
        listener.releaseConnection(on: context.loop)
        context.release(self)
    }

    // MARK: Helpers

    /// Copies bytes into a pooled buffer as pending output.
    private func stage(_ bytes: [UInt8], context: LoopContext) -> PendingBytes {
        let buffer = context.buffers.take()
        let count = min(bytes.count, context.buffers.size)
        bytes.withUnsafeBytes { buffer.copyMemory(from: $0.baseAddress!, byteCount: count) }
        return PendingBytes(buffer: buffer, start: 0, end: count)
    }

    private var clientText: String { client?.description ?? "?" }
}
