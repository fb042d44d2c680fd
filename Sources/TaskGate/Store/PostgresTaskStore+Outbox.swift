import Foundation
import Logging
import NIOCore
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// `WebhookOutbox`: the deliveries written with the events, claimed and finished by the
/// dispatcher, listed and queued again by the webhook routes.
extension PostgresTaskStore {
    public func claimDeliveries(webhook: String, now: Date, until: Date, limit: Int) async throws(GatewayError) -> [WebhookDelivery] {
        let (time, held) = (now.timeIntervalSince1970, until.timeIntervalSince1970)
        return try await perform("write") {
            // SKIP LOCKED: replicas sending at once take different deliveries.
            let rows = try await self.client.query(
                """
                WITH due AS (
                  SELECT event_sequence FROM webhook_delivery
                  WHERE webhook = \(webhook) AND state = 'pending' AND next_attempt_at <= \(time)
                  ORDER BY event_sequence LIMIT \(limit) FOR UPDATE SKIP LOCKED
                ),
                claimed AS (
                  UPDATE webhook_delivery d SET next_attempt_at = \(held) FROM due
                  WHERE d.webhook = \(webhook) AND d.event_sequence = due.event_sequence
                  RETURNING d.event_sequence, d.attempts
                )
                SELECT e.id, claimed.event_sequence, e.payload, claimed.attempts, t.trace_parent
                FROM claimed JOIN task_event e ON e.sequence = claimed.event_sequence
                LEFT JOIN task t ON t.provider = e.provider AND t.task_id = e.task_id
                ORDER BY claimed.event_sequence
                """,
                logger: self.logger
            )
            var deliveries: [WebhookDelivery] = []
            for try await (id, sequence, payload, attempts, traceParent) in rows.decode((String, Int64, ByteBuffer, Int, String?).self) {
                var delivery = WebhookDelivery(id: id, webhook: webhook, sequence: sequence, payload: payload, attempts: attempts)
                delivery.traceParent = traceParent
                delivery.heldUntil = until
                deliveries.append(delivery)
            }
            return deliveries
        }
    }

    public func finishDelivery(_ delivery: WebhookDelivery, attempt: WebhookAttempt, outcome: WebhookOutcome) async throws(GatewayError) {
        let next: Double =
            switch outcome {
            case .retry(let at): at.timeIntervalSince1970
            case .delivered, .failed: attempt.at.timeIntervalSince1970
            }
        let (state, attempts, entry) = (outcome.state.rawValue, delivery.attempts + 1, attempt.json)
        let (webhook, sequence, held) = (delivery.webhook, delivery.sequence, delivery.heldUntil.timeIntervalSince1970)
        try await perform("write") {
            // Every attempt is logged; the state only moves while the claim still holds it.
            try await self.client.query(
                """
                UPDATE webhook_delivery SET attempt_log = attempt_log || jsonb_build_array(\(entry)::jsonb),
                  state = CASE WHEN next_attempt_at = \(held) THEN \(state) ELSE state END,
                  attempts = CASE WHEN next_attempt_at = \(held) THEN \(attempts) ELSE attempts END,
                  next_attempt_at = CASE WHEN next_attempt_at = \(held) THEN \(next) ELSE next_attempt_at END
                WHERE webhook = \(webhook) AND event_sequence = \(sequence)
                """,
                logger: self.logger
            )
        }
    }

    public func webhookBacklog() async throws(GatewayError) -> [WebhookBacklog] {
        try await perform("read") {
            let rows = try await self.client.query(
                "SELECT webhook, count(*), min(queued_at) FROM webhook_delivery WHERE state = 'pending' GROUP BY webhook ORDER BY webhook",
                logger: self.logger
            )
            var backlog: [WebhookBacklog] = []
            for try await (webhook, pending, oldest) in rows.decode((String, Int, Double?).self) {
                backlog.append(WebhookBacklog(webhook: webhook, pending: pending, oldestCreatedAt: oldest.map(Date.init(timeIntervalSince1970:))))
            }
            return backlog
        }
    }

    private typealias RecordRow = (String, Int64, String, String, Double, Double)

    private static func record(_ row: RecordRow, webhook: String) -> DeliveryRecord? {
        let (id, sequence, state, log, next, queued) = row
        guard let state = DeliveryState(rawValue: state) else { return nil }
        return DeliveryRecord(
            eventID: id,
            webhook: webhook,
            sequence: sequence,
            state: state,
            attempts: WebhookAttempt.log(from: log),
            nextAttemptAt: Date(timeIntervalSince1970: next),
            queuedAt: Date(timeIntervalSince1970: queued)
        )
    }

    public func deliveries(webhook: String, state: DeliveryState?, before: Int64?, limit: Int) async throws(GatewayError) -> [DeliveryRecord] {
        let (stateText, before) = (state?.rawValue, before ?? Int64.max)
        return try await perform("read") {
            let rows = try await self.client.query(
                """
                SELECT e.id, d.event_sequence, d.state, d.attempt_log::text, d.next_attempt_at, d.queued_at
                FROM webhook_delivery d JOIN task_event e ON e.sequence = d.event_sequence
                WHERE d.webhook = \(webhook) AND d.event_sequence < \(before) AND (\(stateText)::text IS NULL OR d.state = \(stateText))
                ORDER BY d.event_sequence DESC LIMIT \(limit)
                """,
                logger: self.logger
            )
            var records: [DeliveryRecord] = []
            for try await row in rows.decode(RecordRow.self) {
                if let record = Self.record(row, webhook: webhook) { records.append(record) }
            }
            return records
        }
    }

    public func retryDelivery(webhook: String, eventID: String, now: Date) async throws(GatewayError) -> DeliveryRecord? {
        let time = now.timeIntervalSince1970
        return try await perform("write") {
            let rows = try await self.client.query(
                """
                UPDATE webhook_delivery d SET state = 'pending', attempts = 0, next_attempt_at = \(time), queued_at = \(time)
                FROM task_event e
                WHERE d.webhook = \(webhook) AND e.id = \(eventID) AND d.event_sequence = e.sequence
                RETURNING e.id, d.event_sequence, d.state, d.attempt_log::text, d.next_attempt_at, d.queued_at
                """,
                logger: self.logger
            )
            for try await row in rows.decode(RecordRow.self) { return Self.record(row, webhook: webhook) }
            return nil
        }
    }

    public func replayEvents(to webhook: String, providers: [String], after: Int64, now: Date) async throws(GatewayError) -> Int {
        let time = now.timeIntervalSince1970
        return try await perform("write") {
            let rows = try await self.client.query(
                """
                WITH queued AS (
                  INSERT INTO webhook_delivery (webhook, event_sequence, next_attempt_at, queued_at)
                  SELECT \(webhook), sequence, \(time), \(time) FROM task_event WHERE sequence > \(after) AND provider = ANY(\(providers)::text[])
                  ON CONFLICT (webhook, event_sequence) DO UPDATE SET
                    state = 'pending', attempts = 0, next_attempt_at = excluded.next_attempt_at, queued_at = excluded.queued_at
                  RETURNING 1
                )
                SELECT count(*) FROM queued
                """,
                logger: self.logger
            )
            for try await count in rows.decode(Int.self) { return count }
            return 0
        }
    }
}
