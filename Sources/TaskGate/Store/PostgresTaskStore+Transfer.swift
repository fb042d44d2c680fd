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

    public func exportEvents(afterSequence: Int64, limit: Int) async throws(GatewayError) -> [StoredEventRow] {
        try await perform("read", within: .seconds(60)) {
            let rows = try await self.client.query(
                """
                SELECT sequence, id, type, provider, task_id, created_at, payload FROM task_event
                WHERE sequence > \(afterSequence) ORDER BY sequence LIMIT \(limit)
                """,
                logger: self.logger
            )
            var events: [StoredEventRow] = []
            for try await row in rows.decode((Int64, String, String, String, String, Double, ByteBuffer).self) {
                events.append(
                    StoredEventRow(sequence: row.0, id: row.1, type: row.2, provider: row.3, taskID: row.4, createdAt: row.5, payload: row.6)
                )
            }
            return events
        }
    }

    public func exportDeliveries(after: (sequence: Int64, webhook: String)?, limit: Int) async throws(GatewayError) -> [StoredDeliveryRow] {
        let (sequence, webhook) = (after?.sequence ?? Int64.min, after?.webhook ?? "")
        return try await perform("read", within: .seconds(60)) {
            let rows = try await self.client.query(
                """
                SELECT webhook, event_sequence, state, attempts, attempt_log::text, next_attempt_at, queued_at FROM webhook_delivery
                WHERE (event_sequence, webhook) > (\(sequence), \(webhook)) ORDER BY event_sequence, webhook LIMIT \(limit)
                """,
                logger: self.logger
            )
            var deliveries: [StoredDeliveryRow] = []
            for try await row in rows.decode((String, Int64, String, Int, String, Double, Double).self) {
                deliveries.append(
                    StoredDeliveryRow(
                        webhook: row.0,
                        eventSequence: row.1,
                        state: row.2,
                        attempts: row.3,
                        attemptLog: row.4,
                        nextAttemptAt: row.5,
                        queuedAt: row.6
                    )
                )
            }
            return deliveries
        }
    }

    public func importEvents(_ events: [StoredEventRow], deliveries: [StoredDeliveryRow]) async throws(GatewayError) {
        try await perform("write", within: .seconds(60)) {
            try await self.client.withTransaction(logger: self.logger) { connection in
                for event in events {
                    try await connection.query(
                        """
                        INSERT INTO task_event (sequence, id, type, provider, task_id, created_at, payload)
                        VALUES (\(event.sequence), \(event.id), \(event.type), \(event.provider), \(event.taskID), \(event.createdAt), \(event.payload))
                        """,
                        logger: self.logger
                    )
                }
                for delivery in deliveries {
                    try await connection.query(
                        """
                        INSERT INTO webhook_delivery (webhook, event_sequence, state, attempts, attempt_log, next_attempt_at, queued_at)
                        VALUES (\(delivery.webhook), \(delivery.eventSequence), \(delivery.state), \(delivery.attempts),
                                \(delivery.attemptLog)::jsonb, \(delivery.nextAttemptAt), \(delivery.queuedAt))
                        """,
                        logger: self.logger
                    )
                }
            }
        }
    }

    public func eventFeedEnds() async throws(GatewayError) -> EventFeedEnds {
        try await perform("read") {
            let rows = try await self.client.query("SELECT last_sequence, trimmed_through FROM event_feed", logger: self.logger)
            for try await (last, trimmed) in rows.decode((Int64, Int64).self) { return EventFeedEnds(last: last, trimmedThrough: trimmed) }
            return EventFeedEnds(last: 0, trimmedThrough: 0)
        }
    }

    public func setEventFeedEnds(_ ends: EventFeedEnds) async throws(GatewayError) {
        try await perform("write") {
            try await self.client.query(
                "UPDATE event_feed SET last_sequence = \(ends.last), trimmed_through = \(ends.trimmedThrough)",
                logger: self.logger
            )
        }
    }

    public func eventCounts() async throws(GatewayError) -> (events: Int, deliveries: Int) {
        try await perform("read") {
            let rows = try await self.client.query(
                "SELECT (SELECT count(*) FROM task_event), (SELECT count(*) FROM webhook_delivery)",
                logger: self.logger
            )
            for try await counts in rows.decode((Int, Int).self) { return counts }
            return (0, 0)
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
