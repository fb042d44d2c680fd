import Foundation
import Logging
import NIOCore
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// `AnswerStore`: the tasks' answers; a save releases the task's lease and notifies the replicas.
extension PostgresTaskStore {
    public func answer(provider: String, id: String) async throws(GatewayError) -> EncodedAnswer? {
        let row = try await perform("read") { () async throws -> ReadAnswer.Row? in
            for try await row in try await self.client.execute(ReadAnswer(provider: provider, id: id), logger: self.logger) { return row }
            return nil
        }
        guard let (status, vendorStatus, body, etag, fetchedAt, linksExpireAt, traceParent) = row else { return nil }
        let columns = StoredAnswerColumns(
            status: status,
            vendorStatus: vendorStatus,
            body: body,
            etag: etag,
            fetchedAt: fetchedAt,
            linksExpireAt: linksExpireAt,
            traceParent: traceParent
        )
        guard case .answer(let answer) = columns.read(provider: provider, id: id) else {
            logger.error("a stored task has an unknown status", metadata: ["provider": "\(provider)"])
            throw GatewayError(.storeUnavailable, "A stored task could not be read.")
        }
        return answer
    }

    /// The hot path never waits on the network: it serves what memory holds, and a request for a
    /// final answer not in memory takes the async path (`answer`), which keeps it in memory.
    public func finalAnswerNow(provider: String, id: String) -> EncodedAnswer? { nil }

    @discardableResult
    public func save(_ answer: EncodedAnswer, event: TaskEvent?) async throws(GatewayError) -> Bool {
        let (provider, id, status, isFinal, vendorStatus) = (answer.provider, answer.id, answer.status.rawValue, answer.isFinal, answer.vendorStatus)
        let (body, etag, fetchedAt) = (answer.bytes.gzip, answer.bytes.validator.hex, answer.fetchedAt.timeIntervalSince1970)
        let linksExpireAt = answer.bytes.linksExpireAt?.timeIntervalSince1970
        let change = TaskChangeWatches.key(provider: provider, id: id)
        let (eventID, eventType, payload) = (event?.id ?? "", event?.type ?? "", event?.payload ?? ByteBuffer())
        let (receivers, hasEvent) = (event?.receivers ?? [], event != nil)
        return try await perform("write") {
            // The answer is saved, the task's lease released and — when another replica waited
            // on it, or the task has just turned final (long polls wait on every replica) — the
            // replicas told, in one statement (the notification goes out at commit). A task
            // turning final also writes its event at the feed's next position (the counter row
            // stays locked until this commits: positions commit in order) and its deliveries.
            let rows = try await self.client.query(
                """
                WITH released AS (DELETE FROM task_lease WHERE provider = \(provider) AND task_id = \(id) RETURNING contended),
                saved AS (
                INSERT INTO task (
                  provider, task_id, status, is_final, vendor_status, body_gzip, etag, fetched_at, first_seen_at, links_expire_at, watched_at,
                  trace_parent
                )
                VALUES (
                  \(provider), \(id), \(status), \(isFinal), \(vendorStatus), \(body), \(etag), \(fetchedAt), \(fetchedAt), \(linksExpireAt),
                  \(fetchedAt), \(answer.traceParent)
                )
                ON CONFLICT (provider, task_id) DO UPDATE SET
                  status = excluded.status, is_final = excluded.is_final, vendor_status = excluded.vendor_status,
                  body_gzip = excluded.body_gzip, etag = excluded.etag, fetched_at = excluded.fetched_at,
                  links_expire_at = excluded.links_expire_at, watched_at = excluded.watched_at,
                  trace_parent = coalesce(task.trace_parent, excluded.trace_parent)
                WHERE NOT task.is_final
                RETURNING is_final
                ),
                position AS (
                  UPDATE event_feed SET last_sequence = last_sequence + 1
                  WHERE \(hasEvent) AND EXISTS (SELECT 1 FROM saved WHERE is_final)
                  RETURNING last_sequence
                ),
                event AS (
                  INSERT INTO task_event (sequence, id, type, provider, task_id, created_at, payload)
                  SELECT last_sequence, \(eventID), \(eventType), \(provider), \(id), \(fetchedAt), \(payload) FROM position
                  ON CONFLICT (id) DO NOTHING
                  RETURNING sequence
                ),
                deliveries AS (
                  INSERT INTO webhook_delivery (webhook, event_sequence, next_attempt_at, queued_at)
                  SELECT w.name, event.sequence, \(fetchedAt), \(fetchedAt) FROM event, unnest(\(receivers)::text[]) AS w(name)
                ),
                told AS (
                  SELECT pg_notify(\(Self.changeChannel), \(change)) FROM (SELECT 1) AS one
                  WHERE EXISTS (SELECT 1 FROM released WHERE contended) OR EXISTS (SELECT 1 FROM saved WHERE is_final)
                ),
                feed_told AS (SELECT pg_notify(\(Self.changeChannel), \(TaskChangeWatches.eventsKey)) FROM event)
                SELECT EXISTS (SELECT 1 FROM event), (SELECT count(*) FROM told), (SELECT count(*) FROM feed_told)
                """,
                logger: self.logger
            )
            var wroteEvent = false
            for try await (written, _, _) in rows.decode((Bool, Int, Int).self) { wroteEvent = written }
            return wroteEvent
        }
    }

    public func replaceFinal(_ answer: EncodedAnswer) async throws(GatewayError) -> Bool {
        let (provider, id, status, vendorStatus) = (answer.provider, answer.id, answer.status.rawValue, answer.vendorStatus)
        let (body, etag, fetchedAt) = (answer.bytes.gzip, answer.bytes.validator.hex, answer.fetchedAt.timeIntervalSince1970)
        let linksExpireAt = answer.bytes.linksExpireAt?.timeIntervalSince1970
        let change = TaskChangeWatches.key(provider: provider, id: id)
        return try await perform("write") {
            // Like `save`: the lease released and a waiting replica told in the same statement.
            let rows = try await self.client.query(
                """
                WITH released AS (DELETE FROM task_lease WHERE provider = \(provider) AND task_id = \(id) RETURNING contended),
                replaced AS (
                UPDATE task SET vendor_status = \(vendorStatus), body_gzip = \(body), etag = \(etag), fetched_at = \(fetchedAt),
                  links_expire_at = \(linksExpireAt)
                WHERE provider = \(provider) AND task_id = \(id) AND is_final AND status = \(status)
                RETURNING 1
                ),
                notified AS (SELECT pg_notify(\(Self.changeChannel), \(change)) FROM released WHERE contended)
                SELECT (SELECT count(*) FROM replaced), (SELECT count(*) FROM notified)
                """,
                logger: self.logger
            )
            for try await (replaced, _) in rows.decode((Int, Int).self) { return replaced > 0 }
            return false
        }
    }

    public func list(provider: String, status: TaskStatus?, afterSequence: Int64?, limit: Int) async throws(GatewayError) -> [StoredListing] {
        let after = afterSequence ?? 0
        let statusText = status?.rawValue
        return try await perform("read") {
            let rows =
                if let statusText {
                    try await self.client.query(
                        """
                        SELECT sequence, body_gzip FROM task WHERE provider = \(provider) AND status = \(statusText) AND sequence > \(after)
                        ORDER BY sequence LIMIT \(limit)
                        """,
                        logger: self.logger
                    )
                } else {
                    try await self.client.query(
                        "SELECT sequence, body_gzip FROM task WHERE provider = \(provider) AND sequence > \(after) ORDER BY sequence LIMIT \(limit)",
                        logger: self.logger
                    )
                }
            var listings: [StoredListing] = []
            for try await (sequence, body) in rows.decode((Int64, ByteBuffer).self) {
                listings.append(StoredListing(sequence: sequence, gzipBody: body))
            }
            return listings
        }
    }
}

/// The read of every stored answer: the most frequent statement, prepared once per connection.
struct ReadAnswer: PostgresPreparedStatement {
    static let sql =
        "SELECT status, vendor_status, body_gzip, etag, fetched_at, links_expire_at, trace_parent FROM task WHERE provider = $1 AND task_id = $2"
    typealias Row = (String, String?, ByteBuffer, String, Double, Double?, String?)

    var provider: String
    var id: String

    func makeBindings() -> PostgresBindings {
        var bindings = PostgresBindings()
        bindings.append(provider)
        bindings.append(id)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
}
