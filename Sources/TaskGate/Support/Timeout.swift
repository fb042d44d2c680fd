import Synchronization

/// Runs `body`, or throws `TimeoutError` once `timeout` has passed; `body` is then cancelled and
/// left to end on its own (a connection lease may not notice cancellation at once). The timer is
/// cancelled as soon as `body` ends, so finished operations leave no sleeping task behind.
///
/// The caller's own cancellation is deliberately not passed on: `body` is a store operation or a
/// mirror download made for an answer, and a final answer must be kept even when the request
/// (or the long poll) that fetched it is gone; the timeout still bounds it.
func withTimeout<T: Sendable>(_ timeout: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    let race = FirstOutcome<T>()
    return try await withCheckedThrowingContinuation { continuation in
        race.begin(continuation)
        // Unstructured, both: a task group would wait for `body` to end, and the point is to stop
        // waiting for a body that does not notice cancellation at once.
        let work = Task {
            do {
                race.finish(.success(try await body()))
            } catch {
                race.finish(.failure(error))
            }
        }
        race.arm(
            Task {
                try? await Task.sleep(for: timeout)
                if race.finish(.failure(TimeoutError())) { work.cancel() }
            }
        )
    }
}

/// The continuation of `withTimeout`, resumed by whichever outcome comes first, and its timer.
private final class FirstOutcome<T: Sendable>: Sendable {
    private struct State {
        var waiter: CheckedContinuation<T, any Error>?
        var timer: Task<Void, Never>?
        var finished = false
    }

    private let state = Mutex(State())

    func begin(_ waiter: CheckedContinuation<T, any Error>) {
        state.withLock { $0.waiter = waiter }
    }

    /// Keeps the timer to cancel when the work ends; cancels it at once if it has ended.
    func arm(_ timer: Task<Void, Never>) {
        let finished = state.withLock { state in
            if !state.finished { state.timer = timer }
            return state.finished
        }
        if finished { timer.cancel() }
    }

    /// Resumes the waiter unless it was resumed already; true when this outcome won.
    @discardableResult
    func finish(_ result: Result<T, any Error>) -> Bool {
        let (waiter, timer) = state.withLock { state -> (CheckedContinuation<T, any Error>?, Task<Void, Never>?) in
            guard !state.finished else { return (nil, nil) }
            state.finished = true
            defer { (state.waiter, state.timer) = (nil, nil) }
            return (state.waiter, state.timer)
        }
        timer?.cancel()
        guard let waiter else { return false }
        waiter.resume(with: result)
        return true
    }
}

struct TimeoutError: Error {}
