import Foundation
import GRDB
import Logging
import NIOCore
import Synchronization

/// `EventLog`: the feed, written by the group writer with the final rows (one writer: commit
/// order is position order).
extension SQLiteTaskStore {
    /// Writes `event` at the feed's next position, and a delivery to each of its receivers.
    /// False when the feed has the event already (the same task saved final twice).
    static func appendEvent(_ event: TaskEvent, in db: Database) throws -> Bool {
        guard let sequence = try Int64.fetchOne(db, sql: "UPDATE event_feed SET last_sequence = last_sequence + 1 RETURNING last_sequence") else {
            throw GatewayError(.storeUnavailable, "The store has no event feed row.")
        }
        let created = event.createdAt.timeIntervalSince1970
        try db.execute(
            sql: """
                INSERT INTO task_event (sequence, id, type, provider, task_id, created_at, payload) VALUES (?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (id) DO NOTHING
                """,
            arguments: [sequence, event.id, event.type, event.provider, event.taskID, created, Data(event.payload.readableBytesView)]
        )
        guard db.changesCount > 0 else { return false }
        for webhook in event.receivers {
            try db.execute(
                sql: "INSERT INTO webhook_delivery (webhook, event_sequence, next_attempt_at, queued_at) VALUES (?, ?, ?, ?)",
                arguments: [webhook, sequence, created, created]
            )
        }
        return true
    }

    public func events(after position: EventPosition, providers: [String], limit: Int) async throws(GatewayError) -> EventPage {
        try await perform("read") {
            try await self.pool.read { db in
                guard let feed = try Row.fetchOne(db, sql: "SELECT last_sequence, trimmed_through FROM event_feed") else {
                    throw GatewayError(.storeUnavailable, "The store has no event feed row.")
                }
                let (last, trimmed): (Int64, Int64) = (feed[0], feed[1])
                let start: Int64 =
                    switch position {
                    case .start: trimmed
                    case .end: last
                    case .after(let sequence): sequence
                    }
                guard !providers.isEmpty else { return EventPage(start: start, events: [], trimmedThrough: trimmed, last: last) }
                let marks = Array(repeating: "?", count: providers.count).joined(separator: ",")
                let rows = try Row.fetchAll(
                    db,
                    sql: """
                        SELECT sequence, id, type, provider, payload FROM task_event WHERE sequence > ? AND provider IN (\(marks))
                        ORDER BY sequence LIMIT ?
                        """,
                    arguments: StatementArguments([start] + providers.map { $0 as any DatabaseValueConvertible } + [limit])
                )
                let events = rows.map { row in
                    let payload: Data = row["payload"]
                    return StoredEvent(
                        sequence: row["sequence"],
                        id: row["id"],
                        type: row["type"],
                        provider: row["provider"],
                        payload: ByteBuffer(bytes: payload)
                    )
                }
                return EventPage(start: start, events: events, trimmedThrough: trimmed, last: last)
            }
        }
    }

    public func trimEvents(createdBefore before: Date, limit: Int) async throws(GatewayError) -> Int {
        try await perform("write") {
            try await self.pool.write { db in
                // In feed order, up to the first event still within retention: the feed's start
                // only moves forward, past events that are all gone.
                let rows = try Row.fetchAll(db, sql: "SELECT sequence, created_at FROM task_event ORDER BY sequence LIMIT ?", arguments: [limit])
                var through: Int64?
                var count = 0
                for row in rows {
                    guard (row["created_at"] as Double) < before.timeIntervalSince1970 else { break }
                    through = row["sequence"]
                    count += 1
                }
                guard let through else { return 0 }
                try db.execute(sql: "DELETE FROM webhook_delivery WHERE event_sequence <= ?", arguments: [through])
                try db.execute(sql: "DELETE FROM task_event WHERE sequence <= ?", arguments: [through])
                try db.execute(sql: "UPDATE event_feed SET trimmed_through = max(trimmed_through, ?)", arguments: [through])
                return count
            }
        }
    }

    public func oldestEventDate() async throws(GatewayError) -> Date? {
        try await perform("read") {
            try await self.pool.read { db in
                try Double.fetchOne(db, sql: "SELECT created_at FROM task_event ORDER BY sequence LIMIT 1").map(Date.init(timeIntervalSince1970:))
            }
        }
    }

    public func watchEvents(with watch: TaskChangeWatch) {
        eventWatches.add(watch, key: TaskChangeWatches.eventsKey)
    }
}
