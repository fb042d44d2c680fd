import Foundation
import GRDB
import Logging
import NIOCore
import Synchronization

/// `TransferableStore`: every row out and in, for `taskgate migrate-store`.
extension SQLiteTaskStore {
    public func exportTasks(afterSequence: Int64, limit: Int) async throws(GatewayError) -> [StoredTaskRow] {
        try await perform("read") {
            try await self.pool.read { db in
                try Row.fetchAll(
                    db,
                    sql: """
                        SELECT sequence, provider, task_id, status, is_final, vendor_status, body_gzip, etag, fetched_at, first_seen_at,
                          links_expire_at, trace_parent
                        FROM task WHERE sequence > ? ORDER BY sequence LIMIT ?
                        """,
                    arguments: [afterSequence, limit]
                ).map { row in
                    let body: Data = row["body_gzip"]
                    return StoredTaskRow(
                        sequence: row["sequence"],
                        provider: row["provider"],
                        taskID: row["task_id"],
                        status: row["status"],
                        isFinal: row["is_final"],
                        vendorStatus: row["vendor_status"],
                        bodyGzip: ByteBuffer(bytes: body),
                        etag: row["etag"],
                        fetchedAt: row["fetched_at"],
                        firstSeenAt: row["first_seen_at"],
                        linksExpireAt: row["links_expire_at"],
                        traceParent: row["trace_parent"]
                    )
                }
            }
        }
    }

    public func exportBudgets(after: (account: String, taskID: String)?, limit: Int) async throws(GatewayError) -> [StoredBudgetRow] {
        let (account, taskID) = after ?? ("", "")
        let first = after == nil
        return try await perform("read") {
            try await self.pool.read { db in
                // The budget's account key is kept in the column named `provider` (see migration v2).
                try Row.fetchAll(
                    db,
                    sql: """
                        SELECT provider, task_id, calls, last_call_at, spent_by_vendor FROM vendor_call_budget
                        WHERE ? OR (provider, task_id) > (?, ?) ORDER BY provider, task_id LIMIT ?
                        """,
                    arguments: [first, account, taskID, limit]
                ).map { row in
                    StoredBudgetRow(
                        account: row["provider"],
                        taskID: row["task_id"],
                        calls: row["calls"],
                        lastCallAt: row["last_call_at"],
                        spentByVendor: row["spent_by_vendor"]
                    )
                }
            }
        }
    }

    public func importRows(tasks: [StoredTaskRow], budgets: [StoredBudgetRow]) async throws(GatewayError) {
        try await perform("write") {
            try await self.pool.write { db in
                for task in tasks {
                    try db.execute(
                        sql: """
                            INSERT INTO task (provider, task_id, status, is_final, vendor_status, body_gzip, etag, fetched_at, first_seen_at,
                              links_expire_at, watched_at, trace_parent)
                            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                            """,
                        arguments: [
                            task.provider, task.taskID, task.status, task.isFinal, task.vendorStatus, Data(task.bodyGzip.readableBytesView),
                            task.etag, task.fetchedAt, task.firstSeenAt, task.linksExpireAt, task.fetchedAt, task.traceParent,
                        ]
                    )
                }
                for budget in budgets {
                    try db.execute(
                        sql: """
                            INSERT INTO vendor_call_budget (provider, task_id, calls, last_call_at, spent_by_vendor) VALUES (?, ?, ?, ?, ?)
                            """,
                        arguments: [budget.account, budget.taskID, budget.calls, budget.lastCallAt, budget.spentByVendor]
                    )
                }
            }
        }
    }

    public func exportArtifacts(after: String?, limit: Int) async throws(GatewayError) -> [StoredArtifact] {
        try await perform("read") {
            try await self.pool.read { db in
                try Row.fetchAll(
                    db,
                    sql: "SELECT sha256, content_type, body, body_gzip FROM artifact WHERE sha256 > ? ORDER BY sha256 LIMIT ?",
                    arguments: [after ?? "", limit]
                ).map { row in
                    let body: Data = row["body"]
                    let gzip: Data? = row["body_gzip"]
                    return StoredArtifact(
                        sha256: row["sha256"],
                        contentType: row["content_type"],
                        body: ByteBuffer(bytes: body),
                        gzipBody: gzip.map { ByteBuffer(bytes: $0) }
                    )
                }
            }
        }
    }

    public func exportEvents(afterSequence: Int64, limit: Int) async throws(GatewayError) -> [StoredEventRow] {
        try await perform("read") {
            try await self.pool.read { db in
                try Row.fetchAll(
                    db,
                    sql:
                        "SELECT sequence, id, type, provider, task_id, created_at, payload FROM task_event WHERE sequence > ? ORDER BY sequence LIMIT ?",
                    arguments: [afterSequence, limit]
                ).map { row in
                    let payload: Data = row["payload"]
                    return StoredEventRow(
                        sequence: row["sequence"],
                        id: row["id"],
                        type: row["type"],
                        provider: row["provider"],
                        taskID: row["task_id"],
                        createdAt: row["created_at"],
                        payload: ByteBuffer(bytes: payload)
                    )
                }
            }
        }
    }

    public func exportDeliveries(after: (sequence: Int64, webhook: String)?, limit: Int) async throws(GatewayError) -> [StoredDeliveryRow] {
        try await perform("read") {
            try await self.pool.read { db in
                try Row.fetchAll(
                    db,
                    sql: """
                        SELECT webhook, event_sequence, state, attempts, attempt_log, next_attempt_at, queued_at FROM webhook_delivery
                        WHERE (event_sequence, webhook) > (?, ?) ORDER BY event_sequence, webhook LIMIT ?
                        """,
                    arguments: [after?.sequence ?? Int64.min, after?.webhook ?? "", limit]
                ).map { row in
                    StoredDeliveryRow(
                        webhook: row["webhook"],
                        eventSequence: row["event_sequence"],
                        state: row["state"],
                        attempts: row["attempts"],
                        attemptLog: row["attempt_log"],
                        nextAttemptAt: row["next_attempt_at"],
                        queuedAt: row["queued_at"]
                    )
                }
            }
        }
    }

    public func importEvents(_ events: [StoredEventRow], deliveries: [StoredDeliveryRow]) async throws(GatewayError) {
        try await perform("write") {
            try await self.pool.write { db in
                for event in events {
                    try db.execute(
                        sql: "INSERT INTO task_event (sequence, id, type, provider, task_id, created_at, payload) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        arguments: [
                            event.sequence, event.id, event.type, event.provider, event.taskID, event.createdAt,
                            Data(event.payload.readableBytesView),
                        ]
                    )
                }
                for delivery in deliveries {
                    try db.execute(
                        sql: """
                            INSERT INTO webhook_delivery (webhook, event_sequence, state, attempts, attempt_log, next_attempt_at, queued_at)
                            VALUES (?, ?, ?, ?, ?, ?, ?)
                            """,
                        arguments: [
                            delivery.webhook, delivery.eventSequence, delivery.state, delivery.attempts, delivery.attemptLog,
                            delivery.nextAttemptAt, delivery.queuedAt,
                        ]
                    )
                }
            }
        }
    }

    public func eventFeedEnds() async throws(GatewayError) -> EventFeedEnds {
        try await perform("read") {
            try await self.pool.read { db in
                let row = try Row.fetchOne(db, sql: "SELECT last_sequence, trimmed_through FROM event_feed")
                return EventFeedEnds(last: row?[0] ?? 0, trimmedThrough: row?[1] ?? 0)
            }
        }
    }

    public func setEventFeedEnds(_ ends: EventFeedEnds) async throws(GatewayError) {
        try await perform("write") {
            try await self.pool.write { db in
                try db.execute(sql: "UPDATE event_feed SET last_sequence = ?, trimmed_through = ?", arguments: [ends.last, ends.trimmedThrough])
            }
        }
    }

    public func eventCounts() async throws(GatewayError) -> (events: Int, deliveries: Int) {
        try await perform("read") {
            try await self.pool.read { db in
                (
                    try Int.fetchOne(db, sql: "SELECT count(*) FROM task_event") ?? 0,
                    try Int.fetchOne(db, sql: "SELECT count(*) FROM webhook_delivery") ?? 0
                )
            }
        }
    }

    public func rowCounts() async throws(GatewayError) -> (tasks: Int, budgets: Int) {
        try await perform("read") {
            try await self.pool.read { db in
                (
                    try Int.fetchOne(db, sql: "SELECT count(*) FROM task") ?? 0,
                    try Int.fetchOne(db, sql: "SELECT count(*) FROM vendor_call_budget") ?? 0
                )
            }
        }
    }
}
