import Foundation
import GRDB
import Logging
import NIOCore
import Synchronization

/// `VendorBudgetStore`: per-task vendor request budgets, counted in the group transaction.
extension SQLiteTaskStore {
    public func reserveVendorCall(
        account provider: String,
        id: String,
        limit: Int,
        spacing: Double,
        now: Date
    ) async throws(GatewayError) -> VendorCallReservation {
        let request = BudgetRequest(provider: provider, id: id, limit: limit, spacing: spacing, now: now)
        guard case .reservation(let reservation) = try await writer.write(.reserve(request), alone: transact) else {
            throw GatewayError(.internal, "The store answered a reservation with something else.")
        }
        return reservation
    }

    public func markVendorBudgetSpent(account provider: String, id: String, now: Date) async throws(GatewayError) {
        _ = try await writer.write(.markSpent(provider: provider, id: id, now: now), alone: transact)
    }

    struct BudgetRequest: Sendable {
        var provider: String
        var id: String
        var limit: Int
        var spacing: Double
        var now: Date
    }

    static func reserve(_ request: BudgetRequest, in db: Database) throws -> VendorCallReservation {
        let row = try Row.fetchOne(
            db,
            sql: "SELECT calls, last_call_at, spent_by_vendor FROM vendor_call_budget WHERE provider = ? AND task_id = ?",
            arguments: [request.provider, request.id]
        )
        let calls: Int = row?["calls"] ?? 0
        let last: Double? = row?["last_call_at"]
        let spentByVendor: Bool = row?["spent_by_vendor"] ?? false
        if spentByVendor { return .spentByVendor(calls: calls) }
        if calls >= request.limit { return .exhausted(calls: calls) }
        let now = request.now.timeIntervalSince1970
        if let last, now < last + request.spacing {
            return .notBefore(Date(timeIntervalSince1970: last + request.spacing))
        }
        try db.execute(
            sql: """
                INSERT INTO vendor_call_budget (provider, task_id, calls, last_call_at) VALUES (?, ?, 1, ?)
                ON CONFLICT (provider, task_id) DO UPDATE SET calls = calls + 1, last_call_at = excluded.last_call_at
                """,
            arguments: [request.provider, request.id, now]
        )
        return .granted(calls: calls + 1)
    }
}
