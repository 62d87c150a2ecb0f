import BallastCore
import BallastDNS
import BallastNIO
import BallastPlans
import BallastStore
import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

/// Fails a lost site over by itself, only where the config names a witness: every second it asks
/// `SiteGuard` which sites have had no pool for `witness.automatic-after`, asks the witness about
/// each, and when the witness agrees makes and applies the failover plan (hold-down respected).
actor SiteWatch: Service {
    private let state: PublishedState
    private let sync: DirectorySync
    private let logger: Logger
    private var guardian = SiteGuard()
    /// The witness's last answer per site, so that the log says each change once.
    private var verdicts: [String: Bool] = [:]
    /// When each site's failover was last tried: a failed try is not repeated for a minute.
    private var attempts: [String: ContinuousClock.Instant] = [:]

    init(state: PublishedState, sync: DirectorySync, logger: Logger) {
        self.state = state
        self.sync = sync
        self.logger = logger
    }

    /// Watches until cancelled.
    func run() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(1))
            let current = state.current
            guard let witness = current.topology.witness else { continue }
            for site in guardian.candidates(state: current, automaticAfter: witness.automaticAfter, now: .now) {
                await consider(site, witness: witness)
            }
        }
    }

    private func consider(_ site: String, witness: WitnessSettings) async {
        if let last = attempts[site], last.duration(to: .now) < .seconds(60) { return }
        let verdict: Bool?
        do {
            verdict = try await Self.ask(witness.endpoint, site: site)
        } catch {
            logger.warning(
                "witness not reachable: no automatic failover",
                metadata: ["site": "\(site)", "witness": "\(witness.endpoint)", "reason": "\(error)"])
            return
        }
        let changed = verdicts.updateValue(verdict == true, forKey: site) != (verdict == true)
        guard verdict == true else {
            if changed {
                logger.notice(
                    "site looks lost here but the witness reaches it: no automatic failover",
                    metadata: ["site": "\(site)"])
            }
            return
        }
        attempts[site] = .now
        guard let store = await sync.directoryStore else { return }
        do {
            let topology = state.current.topology
            let plan = try PlanBuilder.failover(site: site, topology: topology, directory: try await store.snapshot())
            try await store.save(plan)
            guard let record = try await store.planRecord(id: plan.id) else { return }
            logger.critical(
                "site lost and the witness agrees: applying the failover plan",
                metadata: ["site": "\(site)", "plan": "\(plan.id)"])
            let runner = PlanRunner(
                store: store, topology: topology, logger: logger, dnsLookup: DNSProbe.lookup(topology),
                nodeFollows: { [state] in await NodeFollow.wait(state, store) },
                owner: PlanLease.processOwner("node (automatic failover)"))
            let logger = self.logger
            let done = try await runner.apply(record) { line in
                logger.notice("\(line)", metadata: ["plan": "\(plan.id)"])
            }
            logger.notice(
                "automatic failover finished",
                metadata: ["site": "\(site)", "plan": "\(plan.id)", "status": "\(done.status)"])
        } catch {
            logger.error("automatic failover stopped", metadata: ["site": "\(site)", "reason": "\(error)"])
        }
    }

    /// The witness's verdict on `site`: true when it finds the site lost.
    static func ask(_ endpoint: Endpoint, site: String) async throws -> Bool {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(2))
            .connect(to: SocketAddress(endpoint)).get()
        let collector = ReplyCollector(promise: channel.eventLoop.makePromise())
        try await channel.pipeline.addHandler(collector).get()
        let request = "GET /sites/\(site) HTTP/1.1\r\nHost: \(endpoint)\r\nConnection: close\r\n\r\n"
        try await channel.writeAndFlush(ByteBuffer(string: request)).get()
        // A witness that does not answer within 5 s counts as unreachable.
        let deadline = channel.eventLoop.scheduleTask(in: .seconds(5)) { channel.close(promise: nil) }
        let reply = try await collector.reply.get()
        deadline.cancel()
        return try WitnessAnswer.read(reply: Array(reply.utf8), site: site).lost
    }

    /// Collects a whole reply (the request asks the server to close after it).
    private final class ReplyCollector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let reply: EventLoopFuture<String>
        private let promise: EventLoopPromise<String>
        // Touched only on the channel's event loop.
        nonisolated(unsafe) private var buffer = ByteBuffer()

        init(promise: EventLoopPromise<String>) {
            self.promise = promise
            self.reply = promise.futureResult
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var part = unwrapInboundIn(data)
            if buffer.readableBytes < 1 << 20 { buffer.writeBuffer(&part) }
        }

        func channelInactive(context: ChannelHandlerContext) { promise.succeed(String(buffer: buffer)) }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            promise.fail(error)
            context.close(promise: nil)
        }
    }
}
