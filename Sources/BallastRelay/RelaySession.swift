import BallastCodecs
import BallastCore
import BallastNIO
import CoreMetrics
import Logging
import NIOCore
import NIOPosix

/// One client connection relayed to one server: both channels, on one event loop.
///
/// Bytes are forwarded by reference (write on read, one flush per read burst). A side is
/// read only while the other side is writable, so a slow peer stops the fast one and the
/// memory held per connection stays under the write water mark. Half-closes pass through;
/// a connect failure is retried once on another server before the client sees anything.
final class RelaySession {
    enum Side {
        case front
        case back
    }

    private enum Phase {
        case starting
        case awaitingProxyHeader
        case connecting
        case relaying
        case closed
    }

    private let runtime: RelayRuntime
    private let eventLoop: any EventLoop
    private var phase = Phase.starting
    private var front: ChannelHandlerContext?
    private var back: ChannelHandlerContext?
    private var frontPendingRead = false
    private var backPendingRead = false
    private var frontInputClosed = false
    private var backInputClosed = false
    private var frontActive = false
    private var backActive = false

    private var relay: Relay?
    private var client: Endpoint?
    private var local: Endpoint?
    private var headerBytes: ByteBuffer?
    private var earlyData: ByteBuffer?
    private var member: CandidateSet.Member?
    private var failed: [ServerKey] = []

    private var lastActivity = NIODeadline.now()
    private var timer: Scheduled<Void>?
    private var bytesFromClient = 0
    private var bytesFromServer = 0

    /// Most connect attempts per client connection: the first, and one redispatch.
    static let maximumAttempts = 2

    init(runtime: RelayRuntime, eventLoop: any EventLoop) {
        self.runtime = runtime
        self.eventLoop = eventLoop
    }

    // MARK: Events from the handlers

    func handlerAdded(_ side: Side, context: ChannelHandlerContext) {
        switch side {
        case .front: front = context
        case .back: back = context
        }
    }

    func handlerRemoved(_ side: Side, context: ChannelHandlerContext) {
        switch side {
        case .front: if front === context { front = nil }
        case .back: if back === context { back = nil }
        }
    }

    /// Whether an event comes from this session's current channel on that side; a failed
    /// connect attempt's channel may still report after the next attempt began.
    func isCurrent(_ side: Side, _ context: ChannelHandlerContext) -> Bool {
        switch side {
        case .front: return front === context
        case .back: return back === context
        }
    }

    func channelActive(_ side: Side, context: ChannelHandlerContext) {
        switch side {
        case .front:
            frontActive = true
            start(context)
        case .back:
            backActive = true
        }
    }

    func read(_ side: Side, context: ChannelHandlerContext) {
        switch (side, phase) {
        case (.front, .awaitingProxyHeader):
            context.read()
        case (.front, .relaying):
            if back?.channel.isWritable ?? false { context.read() } else { frontPendingRead = true }
        case (.front, _):
            frontPendingRead = true
        case (.back, .relaying):
            if front?.channel.isWritable ?? false { context.read() } else { backPendingRead = true }
        case (.back, _):
            backPendingRead = true
        }
    }

    func channelRead(_ side: Side, data: NIOAny, buffer: ByteBuffer) {
        switch (side, phase) {
        case (.front, .relaying):
            bytesFromClient += buffer.readableBytes
            back?.write(data, promise: nil)
        case (.back, .relaying):
            bytesFromServer += buffer.readableBytes
            front?.write(data, promise: nil)
        case (.front, .awaitingProxyHeader):
            var incoming = buffer
            headerBytes.setOrWriteBuffer(&incoming)
            parseProxyHeader()
        default:
            // Not relaying yet or any more: nothing can be forwarded. Reads are held while
            // connecting, so this is data that raced a close.
            break
        }
    }

    func channelReadComplete(_ side: Side) {
        guard phase == .relaying else { return }
        lastActivity = .now()
        switch side {
        case .front: back?.flush()
        case .back: front?.flush()
        }
    }

    func inputClosed(_ side: Side) {
        switch side {
        case .front:
            frontInputClosed = true
            switch phase {
            case .relaying: closeOutputAfterPendingWrites(back)
            case .awaitingProxyHeader: closeEverything(reason: nil)
            default: break  // applied once connected
            }
        case .back:
            backInputClosed = true
            if phase == .relaying { closeOutputAfterPendingWrites(front) }
        }
    }

    func channelInactive(_ side: Side) {
        switch side {
        case .front:
            frontActive = false
            if phase == .relaying, let back {
                // The client is gone: deliver what it sent, then close the server side.
                closeAfterPendingWrites(back)
            } else if phase != .relaying {
                // Gone before a server was reached; a connect under way is dropped when it completes.
                finish()
            }
        case .back:
            backActive = false
            if phase == .relaying {
                member?.load.closed()
                if let front { closeAfterPendingWrites(front) }
            }
        }
        if !frontActive && !backActive && phase == .relaying {
            finish()
        }
    }

    func writabilityChanged(_ side: Side) {
        guard phase == .relaying else { return }
        switch side {
        case .front:
            if front?.channel.isWritable ?? false, backPendingRead {
                backPendingRead = false
                back?.read()
            }
        case .back:
            if back?.channel.isWritable ?? false, frontPendingRead {
                frontPendingRead = false
                front?.read()
            }
        }
    }

    func errorCaught(_ side: Side, error: any Error) {
        // NIO closes a channel on a read or write error; inactive follows and tears down.
        runtime.logger.debug(
            "relay connection error",
            metadata: ["relay": "\(runtime.relayName)", "side": "\(side)", "error": "\(error)"])
    }

    // MARK: Starting

    private func start(_ context: ChannelHandlerContext) {
        let state = runtime.store.current
        guard let relay = state.relay(named: runtime.relayName) else {
            // The relay was removed by a reload while this client was in the accept queue.
            context.close(promise: nil)
            phase = .closed
            return
        }
        self.relay = relay
        client = context.channel.remoteAddress?.endpoint
        local = context.channel.localAddress?.endpoint
        runtime.metrics.accepted.increment()
        runtime.metrics.active.increment()
        if relay.acceptProxyProtocol {
            phase = .awaitingProxyHeader
            scheduleTimer(after: relay.timeouts.connect)
            context.read()
        } else {
            connect()
        }
    }

    private func parseProxyHeader() {
        guard let bytes = headerBytes else { return }
        switch ProxyHeader.parse(bytes.readableBytesView) {
        case .needMoreData:
            return
        case .invalid(let reason):
            runtime.logger.info(
                "closed a client without a valid PROXY header",
                metadata: ["relay": "\(runtime.relayName)", "client": "\(client.map(String.init(describing:)) ?? "?")", "reason": "\(reason)"])
            closeEverything(reason: nil)
        case .header(let header, _, let consumed):
            if header.command == .proxy, let source = header.source, let destination = header.destination {
                client = source
                local = destination
            }
            var rest = bytes
            rest.moveReaderIndex(forwardBy: consumed)
            earlyData = rest.readableBytes > 0 ? rest : nil
            headerBytes = nil
            connect()
        }
    }

    // MARK: Connecting

    private func connect() {
        guard let relay, let front else { return }
        phase = .connecting
        let state = runtime.store.current
        let clientAddress = client?.address ?? IPAddress(v4: 0, 0, 0, 0)
        var sticky: ServerKey? = nil
        let now = ContinuousClock.now
        if let table = runtime.stickTable, failed.isEmpty {
            sticky = table.lookup(clientAddress, now: now)
        }
        guard
            let member = state.choose(
                for: relay, input: runtime.balancingInput(client: clientAddress), sticky: sticky, excluding: failed)
        else {
            runtime.metrics.noServer.increment()
            runtime.logger.warning(
                "no server available",
                metadata: ["relay": "\(relay.name)", "pool": "\(relay.pool)", "client": "\(clientText)"])
            closeEverything(reason: nil)
            return
        }
        let target = relay.target(for: member.server)
        let tuning = runtime.tuning
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        var bootstrap = ClientBootstrap(group: front.eventLoop)
            .connectTimeout(TimeAmount(relay.timeouts.connect))
            .channelOption(.allowRemoteHalfClosure, value: true)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.writeBufferWaterMark, value: tuning.writeWaterMark)
            .channelOption(.recvAllocator, value: tuning.recvAllocator)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(RelaySideHandler(session: bound.value, side: .back))
                }
            }
        if let size = tuning.socketReceiveBuffer {
            bootstrap = bootstrap.channelOption(.socketOption(.so_rcvbuf), value: SocketOptionValue(size))
        }
        bootstrap.connect(to: SocketAddress(target)).assumeIsolated().whenComplete { result in
            switch result {
            case .success(let channel):
                self.connected(to: member, channel: channel, sticky: sticky, now: now)
            case .failure(let error):
                self.connectFailed(to: member, target: target, error: error)
            }
        }
    }

    private func connected(to member: CandidateSet.Member, channel: any Channel, sticky: ServerKey?, now: ContinuousClock.Instant) {
        guard phase == .connecting, frontActive, let relay, let back else {
            // The client left while we were connecting.
            channel.close(promise: nil)
            return
        }
        phase = .relaying
        self.member = member
        member.load.opened()
        if let table = runtime.stickTable, let address = client?.address {
            table.record(address, server: member.key, now: now)
        }
        if relay.proxyProtocol != .none {
            let header: ProxyHeader
            if let client, let local {
                header = ProxyHeader(source: client, destination: local)
            } else {
                header = ProxyHeader(command: .proxy)
            }
            let bytes = header.encoded(as: relay.proxyProtocol == .v1 ? .v1 : .v2)
            back.write(NIOAny(back.channel.allocator.buffer(bytes: bytes)), promise: nil)
        }
        if let earlyData {
            bytesFromClient += earlyData.readableBytes
            back.write(NIOAny(earlyData), promise: nil)
            self.earlyData = nil
        }
        back.flush()
        if frontInputClosed { closeOutputAfterPendingWrites(back) }
        lastActivity = .now()
        timer?.cancel()
        scheduleTimer(after: relay.timeouts.idle)
        if frontPendingRead {
            frontPendingRead = false
            front?.read()
        }
        if backPendingRead {
            backPendingRead = false
            back.read()
        }
    }

    private func connectFailed(to member: CandidateSet.Member, target: Endpoint, error: any Error) {
        runtime.metrics.failedConnects.increment()
        member.load.connectFailed()
        let reason = describeNetworkError(error)
        let topology = runtime.store.current.topology
        if let relay, let pool = topology.pool(named: relay.pool),
            let probe = topology.probe(for: relay, pool: pool, server: member.server)
        {
            runtime.reportFailure(probe, "relay \(runtime.relayName) could not connect to \(target): \(reason)")
        }
        failed.append(member.key)
        guard phase == .connecting, frontActive else { return }
        if failed.count < Self.maximumAttempts {
            runtime.logger.notice(
                "connect failed, redispatching",
                metadata: ["relay": "\(runtime.relayName)", "server": "\(member.key)", "target": "\(target)", "client": "\(clientText)", "error": "\(reason)"])
            connect()
        } else {
            runtime.logger.warning(
                "connect failed, closing client",
                metadata: ["relay": "\(runtime.relayName)", "servers": "\(failed.map(\.description).joined(separator: ","))", "client": "\(clientText)", "error": "\(reason)"])
            closeEverything(reason: nil)
        }
    }

    // MARK: Timers and closing

    private func scheduleTimer(after delay: Duration) {
        let deadline = lastActivity + TimeAmount(delay)
        timer = eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            timerFired()
        }
    }

    private func timerFired() {
        timer = nil
        guard let relay else { return }
        switch phase {
        case .awaitingProxyHeader:
            runtime.logger.info(
                "closed a client that sent no PROXY header in time",
                metadata: ["relay": "\(relay.name)", "client": "\(clientText)"])
            closeEverything(reason: nil)
        case .relaying:
            let idle = TimeAmount(relay.timeouts.idle)
            if NIODeadline.now() - lastActivity >= idle {
                runtime.metrics.idleTimeouts.increment()
                runtime.logger.info(
                    "idle timeout, closing",
                    metadata: ["relay": "\(relay.name)", "client": "\(clientText)", "server": "\(member?.key.description ?? "?")"])
                closeEverything(reason: nil)
            } else {
                scheduleTimer(after: relay.timeouts.idle)
            }
        default:
            break
        }
    }

    /// Shuts `context`'s output once everything written to it so far has gone.
    private func closeOutputAfterPendingWrites(_ context: ChannelHandlerContext?) {
        guard let context else { return }
        let promise = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(NIOAny(ByteBuffer()), promise: promise)
        promise.futureResult.assumeIsolated().whenComplete { _ in
            context.close(mode: .output, promise: nil)
        }
    }

    /// Closes `context`'s channel once everything written to it so far has gone.
    private func closeAfterPendingWrites(_ context: ChannelHandlerContext) {
        let promise = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(NIOAny(ByteBuffer()), promise: promise)
        promise.futureResult.assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }

    private func closeEverything(reason: String?) {
        front?.close(promise: nil)
        back?.close(promise: nil)
        if phase != .relaying {
            phase = .closed
            finish()
        }
    }

    /// Both channels are gone (or never were): account once.
    private var finished = false
    private func finish() {
        guard !finished else { return }
        finished = true
        phase = .closed
        timer?.cancel()
        timer = nil
        if relay != nil {
            runtime.metrics.active.decrement()
            runtime.metrics.bytesFromClients.increment(by: bytesFromClient)
            runtime.metrics.bytesFromServers.increment(by: bytesFromServer)
        }
    }

    private var clientText: String { client?.description ?? "?" }

}
