import Synchronization

/// Group commit for one SQLite file: every write that arrives while a transaction commits goes
/// into the next one, so a polling storm costs one fsync per group rather than one per answer or
/// vendor call, and each write is still durable before its caller goes on.
///
/// One writer loop (`run`) makes the transactions; the application runs it as part of the
/// store's service until shutdown. Without it (a tool, a test that opened the store by itself,
/// the store's last moments) each write is a transaction of its own, made by its caller.
final class SQLiteGroupWriter: Sendable {
    typealias Operation = SQLiteTaskStore.WriteOperation
    typealias Outcome = SQLiteTaskStore.WriteOutcome
    /// Writes a group in one transaction: one outcome per operation, in order.
    typealias Transaction = @Sendable ([Operation]) async throws(GatewayError) -> [Outcome]
    private typealias Waiter = CheckedContinuation<Turn, Never>

    /// What a write's caller is told.
    private enum Turn {
        case written(Result<Outcome, GatewayError>)
        /// No writer runs: the caller writes it alone.
        case writeAlone
    }

    private struct Queue {
        var pending: [(Operation, Waiter)] = []
        var writerRunning = false
    }

    private let queue = Mutex(Queue())
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation

    init() {
        // One wake-up kept is enough: the writer takes every write waiting when it wakes.
        (wakeups, wake) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// Writes `operation`, durably, in the writer's next group (or alone through `transaction`,
    /// when no writer runs).
    func write(_ operation: Operation, alone transaction: Transaction) async throws(GatewayError) -> Outcome {
        let turn = await withCheckedContinuation { (waiter: Waiter) in
            let queued = queue.withLock { queue in
                guard queue.writerRunning else { return false }
                queue.pending.append((operation, waiter))
                return true
            }
            if queued { wake.yield() } else { waiter.resume(returning: .writeAlone) }
        }
        switch turn {
        case .written(let result): return try result.get()
        case .writeAlone: return try await transaction([operation])[0]
        }
    }

    /// The writer loop: one transaction per group of waiting writes, until `stop()`; then the
    /// writes still waiting are written and later ones go alone.
    func run(_ transaction: Transaction) async {
        queue.withLock { $0.writerRunning = true }
        for await _ in wakeups { await writePending(transaction) }
        queue.withLock { $0.writerRunning = false }
        await writePending(transaction)
    }

    /// Ends the writer loop (shutdown) once the writes waiting now are written.
    func stop() { wake.finish() }

    private func writePending(_ transaction: Transaction) async {
        while true {
            let group = queue.withLock { queue in
                defer { queue.pending.removeAll(keepingCapacity: true) }
                return queue.pending
            }
            guard !group.isEmpty else { return }
            do throws(GatewayError) {
                let outcomes = try await transaction(group.map(\.0))
                for (index, (_, waiter)) in group.enumerated() { waiter.resume(returning: .written(.success(outcomes[index]))) }
            } catch {
                for (_, waiter) in group { waiter.resume(returning: .written(.failure(error))) }
            }
        }
    }
}
