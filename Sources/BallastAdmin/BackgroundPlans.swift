public import ServiceLifecycle

/// Plans applied in the background (`POST /api/plans/ID/apply` without `wait=true`), owned by the
/// node's service group: on shutdown the plans still running are cancelled and waited for, so no
/// plan outlives the node. A cancelled plan keeps the steps it finished, in the store, and the
/// next apply resumes at the step it stopped in.
public final class BackgroundPlans: Service {
    /// A plan's whole application, progress and errors reported by itself.
    typealias Work = @Sendable () async -> Void

    private let queued: AsyncStream<Work>
    private let queue: AsyncStream<Work>.Continuation

    /// A service that runs nothing until its `run` starts.
    public init() {
        (queued, queue) = AsyncStream.makeStream(of: Work.self)
    }

    /// Starts `work` in the service's task group; false once the service has stopped.
    func start(_ work: @escaping Work) -> Bool {
        if case .enqueued = queue.yield(work) { return true }
        return false
    }

    /// Runs each plan started until a graceful shutdown (or cancellation); then refuses new ones,
    /// cancels those still running and returns once they have ended.
    public func run() async {
        await withDiscardingTaskGroup { group in
            await withGracefulShutdownHandler {
                for await work in queued { group.addTask { await work() } }
            } onGracefulShutdown: { [queue] in
                queue.finish()
            }
            // Also when the loop ended by cancellation rather than by the shutdown handler.
            queue.finish()
            group.cancelAll()
        }
    }
}
