import Synchronization

/// Wakes a replica waiting on a task the moment another replica saves the task's answer or gives
/// its vendor-call lease back (PostgreSQL `LISTEN`/`NOTIFY`), so waiters need not poll the store.
///
/// A watch begins before the waiter's first look at the store, so a change between that look and
/// the wait is not missed. Notifications can be lost while the listening connection is down:
/// every wait is also bounded, and the waiter then looks again.
public final class TaskChangeWatch: Sendable {
    /// Why a wait returned.
    public enum Outcome: Sendable {
        case changed, boundPassed, cancelled
    }

    private struct State {
        /// A change came while nobody waited: the next wait returns at once.
        var pending = false
        /// The wait in progress, and which one it is (a timer or a cancellation ends only its own).
        var waiter: (call: UInt64, continuation: CheckedContinuation<Outcome, Never>)?
        var calls: UInt64 = 0
        /// A wait ended (bound or cancellation) before it began to wait.
        var endedEarly: (call: UInt64, outcome: Outcome)?
    }

    private let state = Mutex(State())
    private let ending: @Sendable (TaskChangeWatch) -> Void

    init(ending: @escaping @Sendable (TaskChangeWatch) -> Void) {
        self.ending = ending
    }

    /// A watch that is never told anything: its waits last their whole bound.
    static func unnotified() -> TaskChangeWatch { TaskChangeWatch { _ in } }

    /// Returns once the task changed since the watch began or the last wait returned, or after
    /// `bound` (real time) at the latest, or when the waiting task is cancelled. Only a change
    /// carries over to the next wait: a bound or a cancellation ends this wait alone.
    @discardableResult
    public func next(orAfter bound: Duration) async -> Outcome {
        let call = state.withLock { state in
            state.calls += 1
            return state.calls
        }
        let timer = Task {
            guard (try? await Task.sleep(for: bound)) != nil else { return }
            self.endWait(call, .boundPassed)
        }
        defer { timer.cancel() }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Outcome, Never>) in
                let outcome = state.withLock { state -> Outcome? in
                    if state.pending {
                        state.pending = false
                        return .changed
                    }
                    if let ended = state.endedEarly, ended.call == call { return ended.outcome }
                    if Task.isCancelled { return .cancelled }
                    state.waiter = (call, continuation)
                    return nil
                }
                if let outcome { continuation.resume(returning: outcome) }
            }
        } onCancel: {
            self.endWait(call, .cancelled)
        }
    }

    /// The task changed: wakes the wait in progress, or the next one.
    func wake() {
        let waiter = state.withLock { state in
            guard let waiter = state.waiter.take() else {
                state.pending = true
                return CheckedContinuation<Outcome, Never>?.none
            }
            return waiter.continuation
        }
        waiter?.resume(returning: .changed)
    }

    /// Ends wait `call`, if it has not ended.
    private func endWait(_ call: UInt64, _ outcome: Outcome) {
        let waiter = state.withLock { state in
            guard let waiter = state.waiter, waiter.call == call else {
                state.endedEarly = (call, outcome)
                return CheckedContinuation<Outcome, Never>?.none
            }
            state.waiter = nil
            return waiter.continuation
        }
        waiter?.resume(returning: outcome)
    }

    /// Stops listening for the task's changes.
    public func end() { ending(self) }
}

/// The watches of one process, woken by the task a notification names.
final class TaskChangeWatches: Sendable {
    private let watches = Mutex<[String: [ObjectIdentifier: TaskChangeWatch]]>([:])

    /// The name a notification carries for a task.
    static func key(provider: String, id: String) -> String { "\(provider)/\(id)" }

    func watch(provider: String, id: String) -> TaskChangeWatch {
        let key = Self.key(provider: provider, id: id)
        let watch = TaskChangeWatch { [weak self] watch in
            self?.watches.withLock { watches in
                watches[key]?[ObjectIdentifier(watch)] = nil
                if watches[key]?.isEmpty == true { watches[key] = nil }
            }
        }
        watches.withLock { $0[key, default: [:]][ObjectIdentifier(watch)] = watch }
        return watch
    }

    /// Wakes every watch on the task `key` names.
    func deliver(_ key: String) {
        for watch in watches.withLock({ $0[key].map { Array($0.values) } ?? [] }) { watch.wake() }
    }

    /// Wakes every watch: notifications may have been lost (the listening connection was down).
    func deliverToAll() {
        for watch in watches.withLock({ $0.values.flatMap(\.values) }) { watch.wake() }
    }
}
