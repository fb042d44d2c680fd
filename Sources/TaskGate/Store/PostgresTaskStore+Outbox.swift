import Foundation
import Logging
import NIOCore
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// `WebhookOutbox`: the events written with the final rows, claimed and finished by the dispatcher.
extension PostgresTaskStore {
    public func claimWebhookEvents(webhook: String, now: Date, until: Date, limit: Int) async throws(GatewayError) -> [WebhookEvent] {
        let (time, held) = (now.timeIntervalSince1970, until.timeIntervalSince1970)
        return try await perform("write") {
            // SKIP LOCKED: replicas sending at once take different events.
            let rows = try await self.client.query(
                """
                WITH due AS (
                  SELECT id FROM webhook_event WHERE state = 'pending' AND next_attempt_at <= \(time) AND webhook = \(webhook)
                  ORDER BY created_at, id LIMIT \(limit) FOR UPDATE SKIP LOCKED
                )
                UPDATE webhook_event SET next_attempt_at = \(held) FROM due WHERE webhook_event.id = due.id
                RETURNING webhook_event.id, webhook, payload, attempts, created_at,
                  (SELECT trace_parent FROM task WHERE task.provider = webhook_event.provider AND task.task_id = webhook_event.task_id)
                """,
                logger: self.logger
            )
            var events: [(WebhookEvent, Double)] = []
            for try await (id, webhook, payload, attempts, created, traceParent) in rows.decode(
                (String, String, ByteBuffer, Int, Double, String?).self
            ) {
                var event = WebhookEvent(id: id, webhook: webhook, payload: payload, attempts: attempts)
                event.traceParent = traceParent
                events.append((event, created))
            }
            return events.sorted { ($0.1, $0.0.id) < ($1.1, $1.0.id) }.map(\.0)
        }
    }

    public func finishWebhookEvent(_ event: WebhookEvent, outcome: WebhookOutcome, now: Date) async throws(GatewayError) {
        let (state, next, error): (String, Double, String?) =
            switch outcome {
            case .delivered: ("delivered", now.timeIntervalSince1970, nil)
            case .retry(let at, let error): ("pending", at.timeIntervalSince1970, error)
            case .failed(let error): ("failed", now.timeIntervalSince1970, error)
            }
        let (id, attempts, time) = (event.id, event.attempts + 1, now.timeIntervalSince1970)
        let finished: Double? = state == "pending" ? nil : time
        try await perform("write") {
            try await self.client.query(
                """
                UPDATE webhook_event SET state = \(state), attempts = \(attempts), next_attempt_at = \(next), last_error = \(error),
                  finished_at = \(finished)
                WHERE id = \(id)
                """,
                logger: self.logger
            )
        }
    }

    public func webhookBacklog() async throws(GatewayError) -> [WebhookBacklog] {
        try await perform("read") {
            let rows = try await self.client.query(
                "SELECT webhook, count(*), min(created_at) FROM webhook_event WHERE state = 'pending' GROUP BY webhook ORDER BY webhook",
                logger: self.logger
            )
            var backlog: [WebhookBacklog] = []
            for try await (webhook, pending, oldest) in rows.decode((String, Int, Double?).self) {
                backlog.append(WebhookBacklog(webhook: webhook, pending: pending, oldestCreatedAt: oldest.map(Date.init(timeIntervalSince1970:))))
            }
            return backlog
        }
    }
}
