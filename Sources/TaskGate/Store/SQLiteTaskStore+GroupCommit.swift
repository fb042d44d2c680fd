import Foundation
import GRDB
import Logging
import NIOCore
import Synchronization

extension SQLiteTaskStore {
    /// One write of the group writer.
    enum WriteOperation: Sendable {
        case save(EncodedAnswer, event: TaskEvent?)
        case replaceFinal(EncodedAnswer)
        case reserve(BudgetRequest)
        case markSpent(provider: String, id: String, now: Date)
    }

    enum WriteOutcome: Sendable {
        case saved
        /// Saved, and a feed event written with it: the feed's readers are woken after commit.
        case savedWithEvent
        case replaced(Bool)
        case reservation(VendorCallReservation)
    }

    /// Makes the group transactions until `stopWriter()`: the application runs this as part of
    /// the store's service, so writes from requests, the watch and budgets share fsyncs.
    public func runWriter() async { await writer.run(transact) }

    /// Ends `runWriter` (shutdown) once the writes waiting are written; later ones go alone.
    public func stopWriter() { writer.stop() }

    /// Writes `operations` in one transaction (`SQLiteGroupWriter`'s group).
    func transact(_ operations: [WriteOperation]) async throws(GatewayError) -> [WriteOutcome] {
        let outcomes = try await perform("write") {
            try await self.pool.write { db in
                try operations.map { operation -> WriteOutcome in
                    switch operation {
                    case .save(let answer, let event):
                        return try Self.upsert(answer, event: event, in: db) ? .savedWithEvent : .saved
                    case .replaceFinal(let answer):
                        return .replaced(try Self.replaceFinal(answer, in: db))
                    case .reserve(let request):
                        return .reservation(try Self.reserve(request, in: db))
                    case .markSpent(let provider, let id, let now):
                        try db.execute(
                            sql: """
                                INSERT INTO vendor_call_budget (provider, task_id, calls, last_call_at, spent_by_vendor)
                                VALUES (?, ?, 0, ?, 1)
                                ON CONFLICT (provider, task_id) DO UPDATE SET spent_by_vendor = 1
                                """,
                            arguments: [provider, id, now.timeIntervalSince1970]
                        )
                        return .saved
                    }
                }
            }
        }
        if outcomes.contains(where: { if case .savedWithEvent = $0 { true } else { false } }) {
            eventWatches.deliver(TaskChangeWatches.eventsKey)
        }
        return outcomes
    }
}
