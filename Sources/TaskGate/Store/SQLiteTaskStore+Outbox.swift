import Foundation
import GRDB
import Logging
import NIOCore
import Synchronization

/// `WebhookOutbox`: the events written with the final rows, claimed and finished by the dispatcher.
extension SQLiteTaskStore {
    public func claimWebhookEvents(webhook: String, now: Date, until: Date, limit: Int) async throws(GatewayError) -> [WebhookEvent] {
        try await perform("write") {
            try await self.pool.write { db in
                try Row.fetchAll(
                    db,
                    sql: """
                        UPDATE webhook_event SET next_attempt_at = ? WHERE id IN (
                          SELECT id FROM webhook_event WHERE state = 'pending' AND next_attempt_at <= ? AND webhook = ?
                          ORDER BY created_at, id LIMIT ?
                        ) RETURNING id, webhook, payload, attempts, created_at,
                          (SELECT trace_parent FROM task WHERE task.provider = webhook_event.provider AND task.task_id = webhook_event.task_id)
                            AS trace_parent
                        """,
                    arguments: [until.timeIntervalSince1970, now.timeIntervalSince1970, webhook, limit]
                )
                .sorted { ($0["created_at"] as Double, $0["id"] as String) < ($1["created_at"] as Double, $1["id"] as String) }
                .map { row in
                    let payload: Data = row["payload"]
                    var event = WebhookEvent(id: row["id"], webhook: row["webhook"], payload: ByteBuffer(bytes: payload), attempts: row["attempts"])
                    event.traceParent = row["trace_parent"]
                    return event
                }
            }
        }
    }

    public func finishWebhookEvent(_ event: WebhookEvent, outcome: WebhookOutcome, now: Date) async throws(GatewayError) {
        let (state, next, error): (String, Double, String?) =
            switch outcome {
            case .delivered: ("delivered", now.timeIntervalSince1970, nil)
            case .retry(let at, let error): ("pending", at.timeIntervalSince1970, error)
            case .failed(let error): ("failed", now.timeIntervalSince1970, error)
            }
        try await perform("write") {
            try await self.pool.write { db in
                try db.execute(
                    sql: """
                        UPDATE webhook_event SET state = ?, attempts = ?, next_attempt_at = ?, last_error = ?,
                          finished_at = CASE WHEN ? = 'pending' THEN NULL ELSE ? END
                        WHERE id = ?
                        """,
                    arguments: [state, event.attempts + 1, next, error, state, now.timeIntervalSince1970, event.id]
                )
            }
        }
    }

    public func webhookBacklog() async throws(GatewayError) -> [WebhookBacklog] {
        try await perform("read") {
            try await self.pool.read { db in
                try Row.fetchAll(
                    db,
                    sql: "SELECT webhook, count(*), min(created_at) FROM webhook_event WHERE state = 'pending' GROUP BY webhook ORDER BY webhook"
                ).map { row in
                    WebhookBacklog(webhook: row[0], pending: row[1], oldestCreatedAt: (row[2] as Double?).map(Date.init(timeIntervalSince1970:)))
                }
            }
        }
    }
}
