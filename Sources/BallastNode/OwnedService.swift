import Logging
import ServiceLifecycle

/// One service the node runs for as long as it needs it: started when made, cancelled and
/// awaited by `stop()`. The node's services are held this way, not in a `ServiceGroup`, because
/// a reload replaces some of them (the store's follower and the site watch, when `store` or
/// `backup` changes) while the others run on, and a group's services are fixed when it starts.
final class OwnedService: Sendable {
    private let task: Task<Void, Never>

    /// Runs `service` now; `name` is what the log calls it should it fail.
    init(_ service: some Service, name: String, logger: Logger) {
        task = Task {
            do {
                try await service.run()
            } catch is CancellationError {
                // Stopped by its owner.
            } catch {
                logger.error("\(name) stopped", metadata: ["reason": "\(error)"])
            }
        }
    }

    /// Cancels the service and waits until it has returned.
    func stop() async {
        task.cancel()
        await task.value
    }
}
