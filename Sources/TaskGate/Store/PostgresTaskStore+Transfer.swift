import Foundation
import Logging
import NIOCore
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// `TransferableStore`: every row out and in, for `taskgate migrate-store`.
extension PostgresTaskStore {
    public func exportTasks(afterSequence: Int64, limit: Int) async throws(GatewayError) -> [StoredTaskRow] {
        try await perform("read") {
            let rows = try await self.client.query(
                """
                SELECT sequence, provider, task_id, status, is_final, vendor_status, body_gzip, etag, fetched_at, first_seen_at,
                  links_expire_at, trace_parent
                FROM task WHERE sequence > \(afterSequence) ORDER BY sequence LIMIT \(limit)
                """,
                logger: self.logger
            )
            var tasks: [StoredTaskRow] = []
            for try await row in rows.decode(
                (Int64, String, String, String, Bool, String?, ByteBuffer, String, Double, Double, Double?, String?).self
            ) {
                tasks.append(
                    StoredTaskRow(
                        sequence: row.0,
                        provider: row.1,
                        taskID: row.2,
                        status: row.3,
                        isFinal: row.4,
                        vendorStatus: row.5,
                        bodyGzip: row.6,
                        etag: row.7,
                        fetchedAt: row.8,
                        firstSeenAt: row.9,
                        linksExpireAt: row.10,
                        traceParent: row.11
                    )
                )
            }
            return tasks
        }
    }

    public func exportBudgets(after: (account: String, taskID: String)?, limit: Int) async throws(GatewayError) -> [StoredBudgetRow] {
        let (account, taskID) = after ?? ("", "")
        let first = after == nil
        return try await perform("read") {
            let rows = try await self.client.query(
                """
                SELECT account, task_id, calls, last_call_at, spent_by_vendor FROM vendor_call_budget
                WHERE \(first) OR (account, task_id) > (\(account), \(taskID)) ORDER BY account, task_id LIMIT \(limit)
                """,
                logger: self.logger
            )
            var budgets: [StoredBudgetRow] = []
            for try await (account, taskID, calls, last, spent) in rows.decode((String, String, Int, Double, Bool).self) {
                budgets.append(StoredBudgetRow(account: account, taskID: taskID, calls: calls, lastCallAt: last, spentByVendor: spent))
            }
            return budgets
        }
    }

    public func importRows(tasks: [StoredTaskRow], budgets: [StoredBudgetRow]) async throws(GatewayError) {
        try await perform("write", within: .seconds(60)) {
            try await self.client.withTransaction(logger: self.logger) { connection in
                for task in tasks {
                    try await connection.query(
                        """
                        INSERT INTO task (provider, task_id, status, is_final, vendor_status, body_gzip, etag, fetched_at, first_seen_at,
                          links_expire_at, watched_at, trace_parent)
                        VALUES (\(task.provider), \(task.taskID), \(task.status), \(task.isFinal), \(task.vendorStatus), \(task.bodyGzip),
                                \(task.etag), \(task.fetchedAt), \(task.firstSeenAt), \(task.linksExpireAt), \(task.fetchedAt),
                                \(task.traceParent))
                        """,
                        logger: self.logger
                    )
                }
                for budget in budgets {
                    try await connection.query(
                        """
                        INSERT INTO vendor_call_budget (account, task_id, calls, last_call_at, spent_by_vendor)
                        VALUES (\(budget.account), \(budget.taskID), \(budget.calls), \(budget.lastCallAt), \(budget.spentByVendor))
                        """,
                        logger: self.logger
                    )
                }
            }
        }
    }

    public func exportArtifacts(after: String?, limit: Int) async throws(GatewayError) -> [StoredArtifact] {
        let after = after ?? ""
        return try await perform("read", within: .seconds(60)) {
            let rows = try await self.client.query(
                "SELECT sha256, content_type, body, body_gzip FROM artifact WHERE sha256 > \(after) ORDER BY sha256 LIMIT \(limit)",
                logger: self.logger
            )
            var artifacts: [StoredArtifact] = []
            for try await (sha256, contentType, body, gzip) in rows.decode((String, String, ByteBuffer, ByteBuffer?).self) {
                artifacts.append(StoredArtifact(sha256: sha256, contentType: contentType, body: body, gzipBody: gzip))
            }
            return artifacts
        }
    }

    public func exportWebhookEvents(after: String?, limit: Int) async throws(GatewayError) -> [StoredWebhookEventRow] {
        let after = after ?? ""
        return try await perform("read", within: .seconds(60)) {
            let rows = try await self.client.query(
                """
                SELECT id, webhook, provider, task_id, created_at, payload, state, attempts, next_attempt_at, last_error, finished_at
                FROM webhook_event WHERE id > \(after) ORDER BY id LIMIT \(limit)
                """,
                logger: self.logger
            )
            var events: [StoredWebhookEventRow] = []
            for try await row in rows.decode((String, String, String, String, Double, ByteBuffer, String, Int, Double, String?, Double?).self) {
                events.append(
                    StoredWebhookEventRow(
                        id: row.0,
                        webhook: row.1,
                        provider: row.2,
                        taskID: row.3,
                        createdAt: row.4,
                        payload: row.5,
                        state: row.6,
                        attempts: row.7,
                        nextAttemptAt: row.8,
                        lastError: row.9,
                        finishedAt: row.10
                    )
                )
            }
            return events
        }
    }

    public func importWebhookEvents(_ events: [StoredWebhookEventRow]) async throws(GatewayError) {
        try await perform("write", within: .seconds(60)) {
            try await self.client.withTransaction(logger: self.logger) { connection in
                for event in events {
                    try await connection.query(
                        """
                        INSERT INTO webhook_event (id, webhook, provider, task_id, created_at, payload, state, attempts, next_attempt_at,
                          last_error, finished_at)
                        VALUES (\(event.id), \(event.webhook), \(event.provider), \(event.taskID), \(event.createdAt), \(event.payload),
                                \(event.state), \(event.attempts), \(event.nextAttemptAt), \(event.lastError), \(event.finishedAt))
                        """,
                        logger: self.logger
                    )
                }
            }
        }
    }

    public func webhookEventCount() async throws(GatewayError) -> Int {
        try await perform("read") {
            let rows = try await self.client.query("SELECT count(*) FROM webhook_event", logger: self.logger)
            for try await count in rows.decode(Int.self) { return count }
            return 0
        }
    }

    public func rowCounts() async throws(GatewayError) -> (tasks: Int, budgets: Int) {
        try await perform("read") {
            let rows = try await self.client.query(
                "SELECT (SELECT count(*) FROM task), (SELECT count(*) FROM vendor_call_budget)",
                logger: self.logger
            )
            for try await counts in rows.decode((Int, Int).self) { return counts }
            return (0, 0)
        }
    }
}
