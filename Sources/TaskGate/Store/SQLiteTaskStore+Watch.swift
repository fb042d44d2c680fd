import Foundation
import GRDB
import Logging
import NIOCore
import Synchronization

/// `WatchStore`: the background watch's claims on not-final tasks.
extension SQLiteTaskStore {
    public func claimWatched(provider: String, firstSeenSince: Date, lookedBefore: Date, now: Date, limit: Int) async throws(GatewayError) -> [String]
    {
        try await perform("write") {
            try await self.pool.write { db in
                try String.fetchAll(
                    db,
                    sql: """
                        UPDATE task SET watched_at = ? WHERE sequence IN (
                          SELECT sequence FROM task INDEXED BY task_watch
                          WHERE provider = ? AND is_final = 0 AND watch_ended = 0 AND watched_at <= ? AND first_seen_at >= ?
                          ORDER BY watched_at LIMIT ?
                        ) RETURNING task_id
                        """,
                    arguments: [
                        now.timeIntervalSince1970, provider, lookedBefore.timeIntervalSince1970, firstSeenSince.timeIntervalSince1970, limit,
                    ]
                )
            }
        }
    }

    public func endWatch(provider: String, firstSeenBefore: Date) async throws(GatewayError) -> Int {
        try await perform("write") {
            try await self.pool.write { db in
                try db.execute(
                    sql: "UPDATE task SET watch_ended = 1 WHERE provider = ? AND is_final = 0 AND watch_ended = 0 AND first_seen_at < ?",
                    arguments: [provider, firstSeenBefore.timeIntervalSince1970]
                )
                return db.changesCount
            }
        }
    }

    public func endWatch(provider: String, id: String) async throws(GatewayError) {
        try await perform("write") {
            try await self.pool.write { db in
                try db.execute(sql: "UPDATE task SET watch_ended = 1 WHERE provider = ? AND task_id = ?", arguments: [provider, id])
            }
        }
    }

    public func watchedCount(provider: String) async throws(GatewayError) -> Int {
        try await perform("read") {
            try await self.pool.read { db in
                try Int.fetchOne(db, sql: "SELECT count(*) FROM task WHERE provider = ? AND is_final = 0 AND watch_ended = 0", arguments: [provider])
                    ?? 0
            }
        }
    }
}
