import Foundation
import Synchronization

/// The one source of time for everything that decides by it: rate limits, circuit breakers,
/// deadlines and backoff, per-task spacing, TTLs and stale windows, signatures' timestamps, the
/// simulators' timed steps. `serve` passes `SystemClock`; tests pass a `ManualClock` and move it.
///
/// It reads two kinds of time that a test must move together: monotonic instants (deadlines,
/// intervals) and the calendar date (what vendors sign and what the store keeps). Observed
/// durations — metrics and the access log — are measurements, not decisions, and read the
/// system's clock directly.
///
/// taskgate's own type rather than swift-clocks: its `TestClock` has one kind of instant, and a
/// test could only guess (by yielding) whether the code under test is asleep yet; `ManualClock`
/// counts its sleepers, so a test waits for them before it moves time.
public protocol GatewayClock: Sendable {
    /// Monotonic now, for deadlines and intervals.
    var now: ContinuousClock.Instant { get }
    /// Calendar now, for signatures, stored times and TTLs.
    var date: Date { get }
    /// Returns once `now` has reached `deadline`.
    /// - Throws: `CancellationError` when the task is cancelled first.
    func sleep(until deadline: ContinuousClock.Instant) async throws
}

extension GatewayClock {
    public func sleep(for duration: Duration) async throws {
        try await sleep(until: now + duration)
    }
}

/// The machine's clocks: `ContinuousClock` and `Date()`.
public struct SystemClock: GatewayClock {
    public init() {}

    public var now: ContinuousClock.Instant { .now }
    public var date: Date { Date() }

    public func sleep(until deadline: ContinuousClock.Instant) async throws {
        try await Task.sleep(until: deadline, clock: .continuous)
    }
}
