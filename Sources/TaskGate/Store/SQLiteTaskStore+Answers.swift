import Foundation
import GRDB
import Logging
import NIOCore
import Synchronization

/// `AnswerStore`: the tasks' answers, read on the calling thread or in the pool, written in groups.
extension SQLiteTaskStore {
    public func answer(provider: String, id: String) async throws(GatewayError) -> EncodedAnswer? {
        let read = try await perform("read") {
            try self.pool.read { db in try Self.readAnswer(provider: provider, id: id, in: db) }
        }
        switch read {
        case .answer(let answer): return answer
        case .noRow: return nil
        case .unreadable:
            logger.error("a stored task has an unknown status", metadata: ["provider": "\(provider)"])
            throw GatewayError(.storeUnavailable, "A stored task could not be read.")
        }
    }

    /// A stored final answer read on the calling thread (the hot path's event loop: one indexed
    /// read of a local file, like nginx reading a cached file). nil for anything else, errors
    /// included: the router then answers, and reports them.
    public func finalAnswerNow(provider: String, id: String) -> EncodedAnswer? {
        guard case .answer(let answer)? = hotReads.answer(provider: provider, id: id), answer.isFinal else { return nil }
        return answer
    }

    /// The read of one stored answer, by the router (`readAnswer`) and the hot path
    /// (`SQLiteHotReads`): the columns of `StoredAnswerColumns`, in its order.
    static let answerQuery =
        "SELECT status, vendor_status, body_gzip, etag, fetched_at, links_expire_at, trace_parent FROM task WHERE provider = ? AND task_id = ?"

    static func readAnswer(provider: String, id: String, in db: Database) throws -> StoredRead {
        // Prepared once per connection: the router's read of every task not in memory.
        let statement = try db.cachedStatement(sql: answerQuery)
        guard let row = try Row.fetchOne(statement, arguments: [provider, id]) else { return .noRow }
        let body: Data = row["body_gzip"]
        let columns = StoredAnswerColumns(
            status: row["status"],
            vendorStatus: row["vendor_status"],
            body: ByteBuffer(bytes: body),
            etag: row["etag"],
            fetchedAt: row["fetched_at"],
            linksExpireAt: row["links_expire_at"],
            traceParent: row["trace_parent"]
        )
        return columns.read(provider: provider, id: id)
    }

    /// Durable when it returns; written in a group with whatever else is waiting (one fsync).
    @discardableResult
    public func save(_ answer: EncodedAnswer, event: TaskEvent?) async throws(GatewayError) -> Bool {
        if case .savedWithEvent = try await writer.write(.save(answer, event: event), alone: transact) { return true }
        return false
    }

    /// Saves many answers in one transaction (one fsync), for imports and benchmarks: no outbox
    /// events.
    public func save(batch answers: [EncodedAnswer]) async throws(GatewayError) {
        try await perform("write") {
            try await self.pool.write { db in
                for answer in answers {
                    _ = try Self.upsert(answer, event: nil, in: db)
                }
            }
        }
    }

    /// Writes an answer; when it turns the task final, `event` goes into the feed (and its
    /// deliveries into the outbox) with it. True when an event was written.
    static func upsert(_ answer: EncodedAnswer, event: TaskEvent?, in db: Database) throws -> Bool {
        let body = Data(answer.bytes.gzip.readableBytesView)
        try db.execute(
            sql: """
                INSERT INTO task (
                  provider, task_id, status, is_final, vendor_status, body_gzip, etag, fetched_at, first_seen_at, links_expire_at, watched_at,
                  trace_parent
                )
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (provider, task_id) DO UPDATE SET
                  status = excluded.status, is_final = excluded.is_final, vendor_status = excluded.vendor_status,
                  body_gzip = excluded.body_gzip, etag = excluded.etag, fetched_at = excluded.fetched_at,
                  links_expire_at = excluded.links_expire_at, watched_at = excluded.watched_at,
                  trace_parent = coalesce(task.trace_parent, excluded.trace_parent)
                WHERE task.is_final = 0
                """,
            arguments: [
                answer.provider, answer.id, answer.status.rawValue, answer.isFinal, answer.vendorStatus, body,
                answer.bytes.validator.hex, answer.fetchedAt.timeIntervalSince1970, answer.fetchedAt.timeIntervalSince1970,
                answer.bytes.linksExpireAt?.timeIntervalSince1970, answer.fetchedAt.timeIntervalSince1970, answer.traceParent,
            ]
        )
        guard answer.isFinal, db.changesCount > 0, let event else { return false }
        return try appendEvent(event, in: db)
    }

    /// The one change a final row takes: the same answer with its links signed afresh.
    static func replaceFinal(_ answer: EncodedAnswer, in db: Database) throws -> Bool {
        try db.execute(
            sql: """
                UPDATE task SET vendor_status = ?, body_gzip = ?, etag = ?, fetched_at = ?, links_expire_at = ?
                WHERE provider = ? AND task_id = ? AND is_final = 1 AND status = ?
                """,
            arguments: [
                answer.vendorStatus, Data(answer.bytes.gzip.readableBytesView), answer.bytes.validator.hex,
                answer.fetchedAt.timeIntervalSince1970, answer.bytes.linksExpireAt?.timeIntervalSince1970, answer.provider, answer.id,
                answer.status.rawValue,
            ]
        )
        return db.changesCount > 0
    }

    public func replaceFinal(_ answer: EncodedAnswer) async throws(GatewayError) -> Bool {
        guard case .replaced(let replaced) = try await writer.write(.replaceFinal(answer), alone: transact) else {
            throw GatewayError(.internal, "The store answered a replacement with something else.")
        }
        return replaced
    }

    /// One page of a provider's tasks after a cursor (arguments: provider, sequence, [status,]
    /// limit). Each form reads an index in sequence order: a page deep in the list costs what
    /// the first does.
    static func listingSQL(byStatus: Bool) -> String {
        "SELECT sequence, body_gzip FROM task WHERE provider = ? AND sequence > ?\(byStatus ? " AND status = ?" : "") ORDER BY sequence LIMIT ?"
    }

    public func list(provider: String, status: TaskStatus?, afterSequence: Int64?, limit: Int) async throws(GatewayError) -> [StoredListing] {
        try await perform("read") {
            try await self.pool.read { db in
                var arguments: StatementArguments = [provider, afterSequence ?? 0]
                if let status { arguments += [status.rawValue] }
                arguments += [limit]
                return try Row.fetchAll(db, sql: Self.listingSQL(byStatus: status != nil), arguments: arguments).map { row in
                    let body: Data = row["body_gzip"]
                    return StoredListing(sequence: row["sequence"], gzipBody: ByteBuffer(bytes: body))
                }
            }
        }
    }
}
