import Foundation
import Synchronization
import TaskGate

/// A simulator's tasks and the ledger of what it was asked: requests per task and call, and
/// requests it rejected (bad signature, wrong key, …), by reason.
public final class SimulatorState: Sendable {
    private struct Entry {
        var task: SimulatedTask
        var stepIndex = 0
        var pollsInStep = 0
        var stepStartedAt: Date?
    }

    private struct Ledger {
        var tasks: [String: Entry] = [:]
        var calls: [String: [String: Int]] = [:]
        var rejected: [String: Int] = [:]
        var nextID = 1_000_000
        /// When each task was last asked about, and the shortest gap between two such requests.
        var lastCallAt: [String: Double] = [:]
        var shortestGap: [String: Double] = [:]
        /// Times of the requests in the last second, and the most there ever were in one second.
        var lastSecond: [Double] = []
        var peakPerSecond = 0

        /// Notes a request about `id` (`*`: not about one task) at `time` (epoch seconds).
        mutating func record(_ id: String, at time: Double) {
            if id != "*" {
                if let last = lastCallAt[id] { shortestGap[id] = min(shortestGap[id] ?? .infinity, time - last) }
                lastCallAt[id] = time
            }
            lastSecond.removeAll { $0 <= time - 1 }
            lastSecond.append(time)
            peakPerSecond = max(peakPerSecond, lastSecond.count)
        }
    }

    private let ledger = Mutex(Ledger())
    /// The simulator's time: timed steps, rate windows, timestamp checks. In tests, the same
    /// clock the gateway reads.
    public let clock: any GatewayClock

    public init(clock: any GatewayClock = SystemClock()) {
        self.clock = clock
    }

    /// Adds (or replaces) a task.
    public func add(_ task: SimulatedTask) {
        ledger.withLock { $0.tasks[task.id] = Entry(task: task) }
    }

    /// Adds a task with a fresh numeric id and returns the id.
    public func create(steps: [SimulatedTask.Step], fields: [String: JSONValue] = [:]) -> String {
        let created = clock.date
        return ledger.withLock { ledger in
            ledger.nextID += 1
            let id = String(ledger.nextID)
            ledger.tasks[id] = Entry(task: SimulatedTask(id: id, steps: steps, createdAt: created, fields: fields))
            return id
        }
    }

    /// Counts a request for a task and returns the step that answers it (nil: no such task, or
    /// one gone), with how many times this call was made for the task, this one included.
    public func poll(_ id: String, call: String) -> (task: SimulatedTask, step: SimulatedTask.Step, count: Int)? {
        let time = clock.date
        return ledger.withLock { ledger in
            ledger.calls[id, default: [:]][call, default: 0] += 1
            ledger.record(id, at: time.timeIntervalSince1970)
            let count = ledger.calls[id]![call]!
            guard var entry = ledger.tasks[id], !entry.task.steps.isEmpty else { return nil }
            // Time runs from the task's creation; a timed step ends exactly `seconds` after it began.
            var startedAt = entry.stepStartedAt ?? entry.task.createdAt
            while entry.stepIndex < entry.task.steps.count - 1 {
                let step = entry.task.steps[entry.stepIndex]
                let pollLimit = step.polls ?? (step.seconds == nil ? 1 : nil)
                let pollsDone = pollLimit.map { entry.pollsInStep >= $0 } ?? false
                let timeDone = step.seconds.map { time.timeIntervalSince(startedAt) >= $0 } ?? false
                guard pollsDone || timeDone else { break }
                startedAt = timeDone ? startedAt.addingTimeInterval(step.seconds!) : time
                entry.stepIndex += 1
                entry.pollsInStep = 0
            }
            entry.stepStartedAt = startedAt
            entry.pollsInStep += 1
            ledger.tasks[id] = entry
            let step = entry.task.steps[entry.stepIndex]
            if case .gone = step.answer { return nil }
            return (entry.task, step, count)
        }
    }

    /// Counts a request without walking a task's timeline: a list call (under the id `*`), or a
    /// download of a task's result file.
    public func count(call: String, for id: String = "*") {
        let time = clock.date.timeIntervalSince1970
        ledger.withLock { ledger in
            ledger.calls[id, default: [:]][call, default: 0] += 1
            ledger.record(id, at: time)
        }
    }

    /// The step a task is in now, without counting a request (for list calls): timed steps
    /// advance with the clock, counted ones only with polls. nil for a task gone.
    public func currentStep(_ id: String) -> SimulatedTask.Step? {
        let time = clock.date
        return ledger.withLock { ledger in
            guard let entry = ledger.tasks[id], !entry.task.steps.isEmpty else { return nil }
            var index = entry.stepIndex
            var startedAt = entry.stepStartedAt ?? entry.task.createdAt
            while index < entry.task.steps.count - 1, let seconds = entry.task.steps[index].seconds,
                time.timeIntervalSince(startedAt) >= seconds
            {
                startedAt = startedAt.addingTimeInterval(seconds)
                index += 1
            }
            if case .gone = entry.task.steps[index].answer { return nil }
            return entry.task.steps[index]
        }
    }

    /// Looks at a task without counting a request (for list calls).
    public func peek(_ id: String) -> SimulatedTask? {
        ledger.withLock { $0.tasks[id]?.task }
    }

    public var allTasks: [SimulatedTask] {
        ledger.withLock { $0.tasks.values.map(\.task).sorted { $0.id < $1.id } }
    }

    public func reject(_ reason: String) {
        ledger.withLock { $0.rejected[reason, default: 0] += 1 }
    }

    /// Requests made for one task, by call name.
    public func calls(for id: String) -> [String: Int] {
        ledger.withLock { $0.calls[id] ?? [:] }
    }

    /// The shortest time between two requests about one task, in seconds; nil before the second.
    public func shortestGap(for id: String) -> Double? {
        ledger.withLock { $0.shortestGap[id] }
    }

    /// Every request counted, by task and call.
    public var totalCalls: Int {
        ledger.withLock { $0.calls.values.reduce(0) { $0 + $1.values.reduce(0, +) } }
    }

    public var rejections: [String: Int] {
        ledger.withLock { $0.rejected }
    }

    /// Forgets every task and count.
    public func reset() {
        ledger.withLock { $0 = Ledger() }
    }

    /// `{"total", "rejected", "rejectedByReason": {...}, "tasks": {"<id>": {"<call>": n}},
    /// "peakPerSecond": n, "shortestGapSeconds": {"<id>": s}}`: the most requests it saw within
    /// any one second (a sliding window), and per task the shortest time between two requests.
    public func callsReport() -> Data {
        let (calls, rejected, peak, gaps) = ledger.withLock { ($0.calls, $0.rejected, $0.peakPerSecond, $0.shortestGap) }
        let object: [String: Any] = [
            "total": calls.values.reduce(0) { $0 + $1.values.reduce(0, +) },
            "rejected": rejected.values.reduce(0, +),
            "rejectedByReason": rejected,
            "tasks": calls,
            "peakPerSecond": peak,
            "shortestGapSeconds": gaps,
        ]
        return (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
    }
}
