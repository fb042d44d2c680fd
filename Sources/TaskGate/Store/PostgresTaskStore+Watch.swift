import Foundation
import Logging
import NIOCore
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// `WatchStore`: the background watch's claims (SKIP LOCKED: each replica its own).
extension PostgresTaskStore {
    public func claimWatched(provider: String, firstSeenSince: Date, lookedBefore: Date, now: Date, limit: Int) async throws(GatewayError) -> [String]
    {
        let (since, before, time) = (firstSeenSince.timeIntervalSince1970, lookedBefore.timeIntervalSince1970, now.timeIntervalSince1970)
        return try await perform("write") {
            // SKIP LOCKED: replicas claiming at once take different tasks; once claimed, a task is
            // not due again until its interval has passed.
            let rows = try await self.client.query(
                """
                WITH due AS (
                  SELECT sequence FROM task
                  WHERE provider = \(provider) AND NOT is_final AND NOT watch_ended AND watched_at <= \(before) AND first_seen_at >= \(since)
                  ORDER BY watched_at LIMIT \(limit) FOR UPDATE SKIP LOCKED
                )
                UPDATE task SET watched_at = \(time) FROM due WHERE task.sequence = due.sequence RETURNING task.task_id
                """,
                logger: self.logger
            )
            var ids: [String] = []
            for try await id in rows.decode(String.self) { ids.append(id) }
            return ids
        }
    }

    public func endWatch(provider: String, firstSeenBefore: Date) async throws(GatewayError) -> Int {
        let before = firstSeenBefore.timeIntervalSince1970
        return try await perform("write") {
            let rows = try await self.client.query(
                """
                WITH ended AS (
                  UPDATE task SET watch_ended = true
                  WHERE provider = \(provider) AND NOT is_final AND NOT watch_ended AND first_seen_at < \(before) RETURNING 1
                )
                SELECT count(*) FROM ended
                """,
                logger: self.logger
            )
            for try await count in rows.decode(Int.self) { return count }
            return 0
        }
    }

    public func endWatch(provider: String, id: String) async throws(GatewayError) {
        try await perform("write") {
            try await self.client.query("UPDATE task SET watch_ended = true WHERE provider = \(provider) AND task_id = \(id)", logger: self.logger)
        }
    }

    public func watchedCount(provider: String) async throws(GatewayError) -> Int {
        try await perform("read") {
            let rows = try await self.client.query(
                "SELECT count(*) FROM task WHERE provider = \(provider) AND NOT is_final AND NOT watch_ended",
                logger: self.logger
            )
            for try await count in rows.decode(Int.self) { return count }
            return 0
        }
    }
}
