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
        /// The waiter is gone for good (`interrupt`): every wait returns `cancelled` at once.
        var interrupted = false
        /// The wait in progress, and which one it is (a timer or a cancellation ends only its own).
        var waiter: (call: UInt64, continuation: CheckedContinuation<Outcome, Never>)?
        var calls: UInt64 = 0
        /// A wait ended (bound or cancellation) before it began to wait.
        var endedEarly: (call: UInt64, outcome: Outcome)?
        /// What `end()` runs: one per registry the watch is in.
        var endings: [@Sendable (TaskChangeWatch) -> Void] = []
    }

    private let state = Mutex(State())

    init() {}

    /// A watch that is never told anything: its waits last their whole bound.
    static func unnotified() -> TaskChangeWatch { TaskChangeWatch() }

    /// Returns once the task changed since the watch began or the last wait returned, or after
    /// `bound` (real time) at the latest, or when the waiting task is cancelled. Only a change
    /// carries over to the next wait: a bound or a cancellation ends this wait alone.
    @discardableResult
    public func next(orAfter bound: Duration) async -> Outcome {
        await next { try? await Task.sleep(for: bound) }
    }

    /// As `next(orAfter:)`, bounded by `deadline` on `clock` (the gateway's time).
    func next(until deadline: ContinuousClock.Instant, on clock: any GatewayClock) async -> Outcome {
        await next { try? await clock.sleep(until: deadline) }
    }

    /// Returns once the task changed since the watch began or the last wait returned, or when
    /// the waiting task is cancelled or the watch interrupted: no bound, so no timer is made per
    /// wait (a caller woken many times a second keeps its own timer instead, as a stream does).
    func nextChange() async -> Outcome {
        let call = state.withLock { state in
            state.calls += 1
            return state.calls
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Outcome, Never>) in
                let outcome = state.withLock { state -> Outcome? in
                    if state.interrupted { return .cancelled }
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

    /// The wait, its bound kept by one child task: `bound` returns when the wait may end.
    private func next(bound: @escaping @Sendable () async -> Void) async -> Outcome {
        let call = state.withLock { state in
            state.calls += 1
            return state.calls
        }
        return await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await bound()
                if !Task.isCancelled { self.endWait(call, .boundPassed) }
            }
            let outcome = await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Outcome, Never>) in
                    let outcome = state.withLock { state -> Outcome? in
                        if state.interrupted { return .cancelled }
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
            group.cancelAll()
            return outcome
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

    /// The waiter is gone (its caller closed the connection): the wait in progress and every
    /// later one return `cancelled` at once.
    func interrupt() {
        let waiter = state.withLock { state in
            state.interrupted = true
            return state.waiter.take()?.continuation
        }
        waiter?.resume(returning: .cancelled)
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

    /// Runs `ending` when the watch ends (a registry letting it go).
    fileprivate func onEnd(_ ending: @escaping @Sendable (TaskChangeWatch) -> Void) {
        state.withLock { $0.endings.append(ending) }
    }

    /// Stops listening for the task's changes, in every registry the watch is in.
    public func end() {
        for ending in state.withLock({ state in
            defer { state.endings = [] }
            return state.endings
        }) { ending(self) }
    }
}

/// The watches of one process, woken by the task a notification names (or by `eventsKey`, the
/// event feed's readers).
final class TaskChangeWatches: Sendable {
    private let watches = Mutex<[String: [ObjectIdentifier: TaskChangeWatch]]>([:])

    /// The name a notification carries for a task.
    static func key(provider: String, id: String) -> String { "\(provider)/\(id)" }

    /// The name a notification carries for "an event was written" (no task's: it has no `/`).
    static let eventsKey = "events"

    func watch(provider: String, id: String) -> TaskChangeWatch {
        let watch = TaskChangeWatch()
        add(watch, provider: provider, id: id)
        return watch
    }

    /// Adds `watch` to the task's watches, until it ends: one watch can hear several registries
    /// (this process's, another replica's notifications), so its waiter waits on one thing.
    func add(_ watch: TaskChangeWatch, provider: String, id: String) {
        add(watch, key: Self.key(provider: provider, id: id))
    }

    /// Adds `watch` to what wakes on notifications naming `key`, until it ends.
    func add(_ watch: TaskChangeWatch, key: String) {
        watch.onEnd { [weak self] watch in
            self?.watches.withLock { watches in
                watches[key]?[ObjectIdentifier(watch)] = nil
                if watches[key]?.isEmpty == true { watches[key] = nil }
            }
        }
        watches.withLock { $0[key, default: [:]][ObjectIdentifier(watch)] = watch }
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
