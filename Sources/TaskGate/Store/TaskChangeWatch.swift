import Synchronization

/// Wakes a replica waiting on a task the moment another replica saves the task's answer or gives
/// its vendor-call lease back (PostgreSQL `LISTEN`/`NOTIFY`), so waiters need not poll the store.
///
/// A watch begins before the waiter's first look at the store, so a change between that look and
/// the wait is not missed. Notifications can be lost while the listening connection is down:
/// every wait is also bounded, and the waiter then looks again.
public final class TaskChangeWatch: Sendable {
    private struct State {
        /// A change (or the timer) came while nobody waited.
        var pending = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())
    private let ending: @Sendable (TaskChangeWatch) -> Void

    init(ending: @escaping @Sendable (TaskChangeWatch) -> Void) {
        self.ending = ending
    }

    /// A watch that is never told anything: its waits last their whole bound.
    static func unnotified() -> TaskChangeWatch { TaskChangeWatch { _ in } }

    /// Returns once the task changed since the watch began or the last wait returned, or after
    /// `bound` (real time) at the latest, or when the waiting task is cancelled.
    public func next(orAfter bound: Duration) async {
        let timer = Task {
            try? await Task.sleep(for: bound)
            self.wake()
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let changed = state.withLock { state in
                    if state.pending {
                        state.pending = false
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if changed { continuation.resume() }
            }
        } onCancel: {
            self.wake()
        }
        timer.cancel()
    }

    /// The task changed (or the wait's bound passed).
    func wake() {
        let waiter = state.withLock { state in
            guard let waiter = state.waiter.take() else {
                state.pending = true
                return CheckedContinuation<Void, Never>?.none
            }
            return waiter
        }
        waiter?.resume()
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
