import Synchronization

/// Runs an operation with a deadline that holds even when the operation does not stop when it is
/// cancelled (a pool waiting for a connection, say): the caller gets its answer or the timeout at
/// the deadline; the operation is cancelled and left to finish by itself.
enum Deadline {
    /// The operation's result, or `timeout()` thrown once `limit` has passed.
    static func run<T: Sendable>(
        _ limit: Duration, timeout: @escaping @Sendable () -> any Error,
        _ operation: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        let gate = Gate<T>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                gate.arm(continuation)
                let work = Task {
                    let result: Result<T, any Error>
                    do { result = .success(try await operation()) } catch { result = .failure(error) }
                    gate.finish(with: result)
                }
                let timer = Task {
                    try? await Task.sleep(for: limit)
                    if !Task.isCancelled, gate.finish(with: .failure(timeout())) { work.cancel() }
                }
                gate.attach(work: work, timer: timer)
            }
        } onCancel: {
            gate.finish(with: .failure(CancellationError()))
            gate.cancelWork()
        }
    }

    /// The one continuation of a call, resumed by whichever of the operation, the timer and the
    /// caller's cancellation comes first; the others find it gone.
    private final class Gate<T: Sendable>: Sendable {
        private struct Slots {
            var continuation: CheckedContinuation<T, any Error>?
            var pending: Result<T, any Error>?
            var work: Task<Void, Never>?
            var timer: Task<Void, Never>?
            var done = false
        }
        private let slots = Mutex(Slots())

        func arm(_ continuation: CheckedContinuation<T, any Error>) {
            let pending: Result<T, any Error>? = slots.withLock { slots in
                if let pending = slots.pending { return pending }
                slots.continuation = continuation
                return nil
            }
            if let pending { continuation.resume(with: pending) }
        }

        func attach(work: Task<Void, Never>, timer: Task<Void, Never>) {
            let finished = slots.withLock { slots in
                slots.work = work
                slots.timer = timer
                return slots.done
            }
            if finished {
                // Answered already (the caller was cancelled before the operation started).
                timer.cancel()
                work.cancel()
            }
        }

        /// Resumes the caller with `result` unless it was resumed already; true when this did it.
        @discardableResult
        func finish(with result: Result<T, any Error>) -> Bool {
            let (continuation, timer, first): (CheckedContinuation<T, any Error>?, Task<Void, Never>?, Bool) =
                slots.withLock { slots in
                    guard !slots.done else { return (nil, nil, false) }
                    slots.done = true
                    let continuation = slots.continuation
                    slots.continuation = nil
                    // Cancelled before the continuation was armed: keep the result for `arm`.
                    if continuation == nil { slots.pending = result }
                    return (continuation, slots.timer, true)
                }
            timer?.cancel()
            continuation?.resume(with: result)
            return first
        }

        func cancelWork() {
            slots.withLock { $0.work }?.cancel()
        }
    }
}
