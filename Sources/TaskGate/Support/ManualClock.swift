import Foundation
import Synchronization

/// A clock that stands still until a test moves it; both readings move together, and sleepers
/// wake, in deadline order, when it passes their deadline. With `skipsWaits`, a sleep moves the
/// clock to its own deadline and returns at once: for tests where waits are incidental.
public final class ManualClock: GatewayClock {
    private struct Sleeper {
        var id: UInt64
        var deadline: ContinuousClock.Instant
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var elapsed = Duration.zero
        var sleepers: [Sleeper] = []
        var nextID: UInt64 = 0
    }

    private let startInstant = ContinuousClock.now
    private let startDate: Date
    private let state = Mutex(State())
    private let skipsWaits: Bool

    /// - Parameter date: the calendar date the clock starts at; by default the last whole second,
    ///   so that dates a test computes by adding whole durations are exact.
    public init(date: Date = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down)), skipsWaits: Bool = false) {
        startDate = date
        self.skipsWaits = skipsWaits
    }

    public var now: ContinuousClock.Instant { startInstant + state.withLock { $0.elapsed } }

    public var date: Date {
        let elapsed = state.withLock { $0.elapsed }
        return startDate.addingTimeInterval(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }

    /// How many tasks are asleep on this clock now.
    public var sleepers: Int { state.withLock { $0.sleepers.count } }

    /// The earliest deadline anyone sleeps until, if anyone sleeps.
    public var nextDeadline: ContinuousClock.Instant? { state.withLock { $0.sleepers.map(\.deadline).min() } }

    public func sleep(until deadline: ContinuousClock.Instant) async throws {
        if skipsWaits {
            try Task.checkCancellation()
            advance(by: max(.zero, deadline - now))
            return
        }
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let outcome: Result<Void, any Error>? = state.withLock { state in
                    if Task.isCancelled { return .failure(CancellationError()) }
                    if deadline <= startInstant + state.elapsed { return .success(()) }
                    state.sleepers.append(Sleeper(id: id, deadline: deadline, continuation: continuation))
                    return nil
                }
                if let outcome { continuation.resume(with: outcome) }
            }
        } onCancel: {
            let sleeper = state.withLock { state in
                state.sleepers.firstIndex { $0.id == id }.map { state.sleepers.remove(at: $0) }
            }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves time forward and wakes everyone whose deadline it passes, earliest first.
    public func advance(by duration: Duration) {
        let woken = state.withLock { state in
            state.elapsed += duration
            let now = startInstant + state.elapsed
            let due = state.sleepers.filter { $0.deadline <= now }.sorted { $0.deadline < $1.deadline }
            state.sleepers.removeAll { $0.deadline <= now }
            return due
        }
        for sleeper in woken { sleeper.continuation.resume() }
    }

    /// Moves time forward to the earliest sleeper's deadline (if it is ahead) and wakes it.
    /// - Returns: false when nobody sleeps.
    @discardableResult
    public func advanceToNextDeadline() -> Bool {
        guard let next = nextDeadline else { return false }
        advance(by: max(.zero, next - now))
        return true
    }
}
