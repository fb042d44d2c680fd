import Foundation
import GRDB
import Logging
import NIOCore
import Synchronization

/// `WebhookOutbox`: the deliveries written with the events, claimed and finished by the
/// dispatcher, listed and queued again by the webhook routes.
extension SQLiteTaskStore {
    public func claimDeliveries(webhook: String, now: Date, until: Date, limit: Int) async throws(GatewayError) -> [WebhookDelivery] {
        try await perform("write") {
            try await self.pool.write { db in
                try Row.fetchAll(
                    db,
                    sql: """
                        UPDATE webhook_delivery SET next_attempt_at = ? WHERE webhook = ? AND event_sequence IN (
                          SELECT event_sequence FROM webhook_delivery WHERE webhook = ? AND state = 'pending' AND next_attempt_at <= ?
                          ORDER BY event_sequence LIMIT ?
                        ) RETURNING event_sequence, attempts
                        """,
                    arguments: [until.timeIntervalSince1970, webhook, webhook, now.timeIntervalSince1970, limit]
                )
                .sorted { ($0["event_sequence"] as Int64) < ($1["event_sequence"] as Int64) }
                .compactMap { claimed -> WebhookDelivery? in
                    let sequence: Int64 = claimed["event_sequence"]
                    guard
                        let event = try Row.fetchOne(
                            db,
                            sql: """
                                SELECT e.id, e.payload, t.trace_parent FROM task_event e
                                LEFT JOIN task t ON t.provider = e.provider AND t.task_id = e.task_id WHERE e.sequence = ?
                                """,
                            arguments: [sequence]
                        )
                    else { return nil }
                    let payload: Data = event["payload"]
                    var delivery = WebhookDelivery(
                        id: event["id"],
                        webhook: webhook,
                        sequence: sequence,
                        payload: ByteBuffer(bytes: payload),
                        attempts: claimed["attempts"]
                    )
                    delivery.traceParent = event["trace_parent"]
                    delivery.heldUntil = until
                    return delivery
                }
            }
        }
    }

    public func finishDelivery(_ delivery: WebhookDelivery, attempt: WebhookAttempt, outcome: WebhookOutcome) async throws(GatewayError) {
        let next: Date =
            switch outcome {
            case .retry(let at): at
            case .delivered, .failed: attempt.at
            }
        try await perform("write") {
            try await self.pool.write { db in
                // Every attempt is logged; the state only moves while the claim still holds it.
                let held = delivery.heldUntil.timeIntervalSince1970
                try db.execute(
                    sql: """
                        UPDATE webhook_delivery SET attempt_log = json_insert(attempt_log, '$[#]', json(?)),
                          state = CASE WHEN next_attempt_at = ? THEN ? ELSE state END,
                          attempts = CASE WHEN next_attempt_at = ? THEN ? ELSE attempts END,
                          next_attempt_at = CASE WHEN next_attempt_at = ? THEN ? ELSE next_attempt_at END
                        WHERE webhook = ? AND event_sequence = ?
                        """,
                    arguments: [
                        attempt.json, held, outcome.state.rawValue, held, delivery.attempts + 1, held, next.timeIntervalSince1970,
                        delivery.webhook, delivery.sequence,
                    ]
                )
            }
        }
    }

    public func webhookBacklog() async throws(GatewayError) -> [WebhookBacklog] {
        try await perform("read") {
            try await self.pool.read { db in
                try Row.fetchAll(
                    db,
                    sql: "SELECT webhook, count(*), min(queued_at) FROM webhook_delivery WHERE state = 'pending' GROUP BY webhook ORDER BY webhook"
                ).map { row in
                    WebhookBacklog(webhook: row[0], pending: row[1], oldestCreatedAt: (row[2] as Double?).map(Date.init(timeIntervalSince1970:)))
                }
            }
        }
    }

    /// The columns `record(from:webhook:)` reads, for every listing of deliveries.
    private static let recordColumns = "e.id, d.event_sequence, d.state, d.attempt_log, d.next_attempt_at, d.queued_at"

    private static func record(from row: Row, webhook: String) -> DeliveryRecord? {
        guard let state = DeliveryState(rawValue: row["state"]) else { return nil }
        return DeliveryRecord(
            eventID: row["id"],
            webhook: webhook,
            sequence: row["event_sequence"],
            state: state,
            attempts: WebhookAttempt.log(from: row["attempt_log"]),
            nextAttemptAt: Date(timeIntervalSince1970: row["next_attempt_at"]),
            queuedAt: Date(timeIntervalSince1970: row["queued_at"])
        )
    }

    public func deliveries(webhook: String, state: DeliveryState?, before: Int64?, limit: Int) async throws(GatewayError) -> [DeliveryRecord] {
        try await perform("read") {
            try await self.pool.read { db in
                try Row.fetchAll(
                    db,
                    sql: """
                        SELECT \(Self.recordColumns) FROM webhook_delivery d JOIN task_event e ON e.sequence = d.event_sequence
                        WHERE d.webhook = ? AND d.event_sequence < ? AND (? IS NULL OR d.state = ?)
                        ORDER BY d.event_sequence DESC LIMIT ?
                        """,
                    arguments: [webhook, before ?? Int64.max, state?.rawValue, state?.rawValue, limit]
                ).compactMap { Self.record(from: $0, webhook: webhook) }
            }
        }
    }

    public func retryDelivery(webhook: String, eventID: String, now: Date) async throws(GatewayError) -> DeliveryRecord? {
        try await perform("write") {
            try await self.pool.write { db in
                let time = now.timeIntervalSince1970
                try db.execute(
                    sql: """
                        UPDATE webhook_delivery SET state = 'pending', attempts = 0, next_attempt_at = ?, queued_at = ?
                        WHERE webhook = ? AND event_sequence = (SELECT sequence FROM task_event WHERE id = ?)
                        """,
                    arguments: [time, time, webhook, eventID]
                )
                guard db.changesCount > 0 else { return nil }
                return try Row.fetchOne(
                    db,
                    sql: """
                        SELECT \(Self.recordColumns) FROM webhook_delivery d JOIN task_event e ON e.sequence = d.event_sequence
                        WHERE d.webhook = ? AND e.id = ?
                        """,
                    arguments: [webhook, eventID]
                ).flatMap { Self.record(from: $0, webhook: webhook) }
            }
        }
    }

    public func replayEvents(to webhook: String, providers: [String], after: Int64, now: Date) async throws(GatewayError) -> Int {
        guard !providers.isEmpty else { return 0 }
        return try await perform("write") {
            try await self.pool.write { db in
                let time = now.timeIntervalSince1970
                let marks = Array(repeating: "?", count: providers.count).joined(separator: ",")
                try db.execute(
                    sql: """
                        INSERT INTO webhook_delivery (webhook, event_sequence, next_attempt_at, queued_at)
                        SELECT ?, sequence, ?, ? FROM task_event WHERE sequence > ? AND provider IN (\(marks))
                        ON CONFLICT (webhook, event_sequence) DO UPDATE SET
                          state = 'pending', attempts = 0, next_attempt_at = excluded.next_attempt_at, queued_at = excluded.queued_at
                        """,
                    arguments: StatementArguments([webhook, time, time, after] as [any DatabaseValueConvertible] + providers)
                )
                return db.changesCount
            }
        }
    }
}
