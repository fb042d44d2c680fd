import Foundation
import Logging
import NIOCore
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// `VendorBudgetStore` and `RateSlotStore`: per-task budgets under a row lock, the account's rate
/// for the cluster.
extension PostgresTaskStore {
    public func reserveVendorCall(
        account: String,
        id: String,
        limit: Int,
        spacing: Double,
        now: Date
    ) async throws(GatewayError) -> VendorCallReservation {
        let time = now.timeIntervalSince1970
        return try await perform("write") {
            // Granted in one statement under the row's lock (the common case); a refusal then reads
            // the row to say why. Two replicas counting a new task's first call meet on the
            // primary key, so one of them is the update.
            let granted = try await self.client.query(
                """
                INSERT INTO vendor_call_budget AS budget (account, task_id, calls, last_call_at)
                SELECT \(account), \(id), 1, \(time) WHERE \(limit) > 0
                ON CONFLICT (account, task_id) DO UPDATE SET calls = budget.calls + 1, last_call_at = excluded.last_call_at
                WHERE NOT budget.spent_by_vendor AND budget.calls < \(limit)
                  AND (budget.calls = 0 OR excluded.last_call_at >= budget.last_call_at + \(spacing))
                RETURNING calls
                """,
                logger: self.logger
            )
            for try await calls in granted.decode(Int.self) { return .granted(calls: calls) }
            let rows = try await self.client.query(
                "SELECT calls, last_call_at, spent_by_vendor FROM vendor_call_budget WHERE account = \(account) AND task_id = \(id)",
                logger: self.logger
            )
            var current: (Int, Double, Bool) = (0, 0, false)
            for try await row in rows.decode((Int, Double, Bool).self) { current = row }
            let (calls, last, spentByVendor) = current
            if spentByVendor { return .spentByVendor(calls: calls) }
            if calls >= limit { return .exhausted(calls: calls) }
            return .notBefore(Date(timeIntervalSince1970: last + spacing))
        }
    }

    func takeRateSlot(account: String, interval: Double, tolerance: Double, now: Date, latest: Date) async throws(GatewayError) -> Date? {
        let (time, limit) = (now.timeIntervalSince1970, latest.timeIntervalSince1970)
        return try await perform("write") {
            // GCRA in one statement under the row's lock: the slot starts when the bucket has room
            // (full_at − interval − tolerance, or now), and is taken only if that is not after `latest`.
            let rows = try await self.client.query(
                """
                INSERT INTO vendor_rate AS rate (account, full_at) VALUES (\(account), \(time) + \(interval))
                ON CONFLICT (account) DO UPDATE SET full_at = GREATEST(rate.full_at, \(time)) + \(interval)
                WHERE GREATEST(rate.full_at, \(time)) - \(tolerance) <= \(limit)
                RETURNING GREATEST(\(time), full_at - \(interval) - \(tolerance))
                """,
                logger: self.logger
            )
            for try await start in rows.decode(Double.self) { return Date(timeIntervalSince1970: start) }
            return nil
        }
    }

    public func markVendorBudgetSpent(account: String, id: String, now: Date) async throws(GatewayError) {
        let time = now.timeIntervalSince1970
        try await perform("write") {
            try await self.client.query(
                """
                INSERT INTO vendor_call_budget (account, task_id, calls, last_call_at, spent_by_vendor)
                VALUES (\(account), \(id), 0, \(time), true)
                ON CONFLICT (account, task_id) DO UPDATE SET spent_by_vendor = true
                """,
                logger: self.logger
            )
        }
    }
}
