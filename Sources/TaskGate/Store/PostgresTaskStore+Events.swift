import Foundation
import Logging
import NIOCore
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// `EventLog`: the feed every replica reads in the same order (positions from the `event_feed`
/// counter, taken in the writing transaction), woken by the `events` notification.
extension PostgresTaskStore {
    public func events(after position: EventPosition, providers: [String], limit: Int) async throws(GatewayError) -> EventPage {
        let (mode, after): (Int, Int64) =
            switch position {
            case .start: (0, 0)
            case .end: (1, 0)
            case .after(let sequence): (2, sequence)
            }
        return try await perform("read") {
            // One statement, one snapshot: the page and the feed's ends agree.
            let rows = try await self.client.query(
                """
                WITH feed AS (
                  SELECT last_sequence, trimmed_through,
                    CASE \(mode) WHEN 0 THEN trimmed_through WHEN 1 THEN last_sequence ELSE \(after) END AS start
                  FROM event_feed
                )
                SELECT feed.last_sequence, feed.trimmed_through, feed.start, e.sequence, e.id, e.type, e.provider, e.payload
                FROM feed LEFT JOIN LATERAL (
                  SELECT sequence, id, type, provider, payload FROM task_event
                  WHERE sequence > feed.start AND provider = ANY(\(providers)::text[]) ORDER BY sequence LIMIT \(limit)
                ) e ON true
                ORDER BY e.sequence
                """,
                logger: self.logger
            )
            var page: EventPage?
            for try await (last, trimmed, start, sequence, id, type, provider, payload) in rows.decode(
                (Int64, Int64, Int64, Int64?, String?, String?, String?, ByteBuffer?).self
            ) {
                if page == nil { page = EventPage(start: start, events: [], trimmedThrough: trimmed, last: last) }
                if let sequence, let id, let type, let provider, let payload {
                    page?.events.append(StoredEvent(sequence: sequence, id: id, type: type, provider: provider, payload: payload))
                }
            }
            guard let page else { throw GatewayError(.storeUnavailable, "The store has no event feed row.") }
            return page
        }
    }

    public func trimEvents(createdBefore before: Date, limit: Int) async throws(GatewayError) -> Int {
        let cutoff = before.timeIntervalSince1970
        return try await perform("write") {
            // In feed order, up to the first event still within retention: the feed's start only
            // moves forward, past events that are all gone.
            let rows = try await self.client.query(
                """
                WITH oldest AS (
                  SELECT sequence, created_at < \(cutoff) AS expired FROM task_event ORDER BY sequence LIMIT \(limit)
                ),
                through AS (
                  SELECT max(sequence) AS sequence FROM oldest
                  WHERE expired AND sequence < coalesce((SELECT min(sequence) FROM oldest WHERE NOT expired), 9223372036854775807)
                ),
                deliveries AS (DELETE FROM webhook_delivery WHERE event_sequence <= (SELECT sequence FROM through)),
                trimmed AS (DELETE FROM task_event WHERE sequence <= (SELECT sequence FROM through) RETURNING 1),
                feed AS (
                  UPDATE event_feed SET trimmed_through = greatest(trimmed_through, (SELECT sequence FROM through))
                  WHERE (SELECT sequence FROM through) IS NOT NULL
                )
                SELECT count(*) FROM trimmed
                """,
                logger: self.logger
            )
            for try await count in rows.decode(Int.self) { return count }
            return 0
        }
    }

    public func oldestEventDate() async throws(GatewayError) -> Date? {
        try await perform("read") {
            let rows = try await self.client.query("SELECT created_at FROM task_event ORDER BY sequence LIMIT 1", logger: self.logger)
            for try await created in rows.decode(Double.self) { return Date(timeIntervalSince1970: created) }
            return nil
        }
    }

    public func watchEvents(with watch: TaskChangeWatch) {
        changes.add(watch, key: TaskChangeWatches.eventsKey)
    }
}
