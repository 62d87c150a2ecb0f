import Logging
import ServiceLifecycle
import Synchronization

/// A place in the node's service group whose service a reload may replace: the store's
/// follower and the site watch when `store` or `backup` changes, the DNS server's follower and
/// the SIP edge's failover clock when those edges are rebuilt. A group's services are fixed
/// when it starts; a slot is fixed, and runs one service at a time, or none.
///
/// The service runs in a task the slot owns and always awaits: `replace` returns once the old
/// service has returned and the new one runs, and the slot's own `run` returns (on graceful
/// shutdown or cancellation) only after its service has.
final class ServiceSlot: Service, Sendable {
    private struct Change: Sendable {
        let service: (any Service)?
        let done: CheckedContinuation<Void, Never>?
    }

    private struct Inbox {
        var changes: [Change] = []
        /// The slot has stopped: further services are not run.
        var closed = false
    }

    /// What the log calls the slot's service.
    let name: String
    private let logger: Logger
    private let inbox = Mutex(Inbox())
    private let wakes: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation

    /// A slot running `service` once the group starts it, or empty.
    init(_ name: String, running service: (any Service)? = nil, logger: Logger) {
        self.name = name
        self.logger = logger
        (wakes, wake) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
        if let service {
            inbox.withLock { $0.changes.append(Change(service: service, done: nil)) }
            wake.yield()
        }
    }

    /// Stops the slot's service, if any, and runs `service` (nil leaves the slot empty). Returns
    /// once that is done; at once, running nothing, when the slot has stopped.
    func replace(with service: (any Service)?) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let accepted = inbox.withLock { inbox in
                guard !inbox.closed else { return false }
                inbox.changes.append(Change(service: service, done: continuation))
                return true
            }
            if accepted {
                wake.yield()
            } else {
                continuation.resume()
            }
        }
    }

    func run() async {
        var current: Task<Void, Never>?
        let wake = self.wake
        await withGracefulShutdownHandler {
            // Ends on graceful shutdown (the stream finishes) or cancellation.
            for await _ in wakes {
                for change in takeChanges() {
                    await Self.stop(current)
                    current = change.service.map(start)
                    change.done?.resume()
                }
            }
        } onGracefulShutdown: {
            wake.finish()
        }
        let left = inbox.withLock { inbox in
            inbox.closed = true
            defer { inbox.changes = [] }
            return inbox.changes
        }
        await Self.stop(current)
        for change in left { change.done?.resume() }
    }

    private func takeChanges() -> [Change] {
        inbox.withLock { inbox in
            defer { inbox.changes = [] }
            return inbox.changes
        }
    }

    private func start(_ service: any Service) -> Task<Void, Never> {
        let (name, logger) = (self.name, self.logger)
        return Task {
            do {
                try await service.run()
            } catch is CancellationError {
                // Stopped by its slot.
            } catch {
                logger.error("\(name) stopped", metadata: ["reason": "\(error)"])
            }
        }
    }

    private static func stop(_ task: Task<Void, Never>?) async {
        task?.cancel()
        await task?.value
    }
}

extension ServiceGroup {
    /// A group of `slots`, started in order and stopped in the reverse one on graceful shutdown.
    /// A slot returns only when the group stops; one that ended early (its run failed) leaves
    /// the others running.
    init(slots: [ServiceSlot], logger: Logger) {
        self.init(
            configuration: ServiceGroupConfiguration(
                services: slots.map {
                    .init(
                        service: $0, successTerminationBehavior: .ignore, failureTerminationBehavior: .ignore,
                        serviceName: $0.name)
                },
                logger: logger))
    }
}
