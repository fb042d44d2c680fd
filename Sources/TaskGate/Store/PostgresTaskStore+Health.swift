import Foundation
import Logging
import NIOCore
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// `StoreHealth`: readiness and what the database holds.
extension PostgresTaskStore {
    /// Within 1.5 s, whatever `operationTimeout` is: `/readyz` must answer fast when the
    /// database is gone.
    public func checkReadable() async throws(GatewayError) {
        try await perform("read", within: .milliseconds(1500)) {
            try await self.client.query("SELECT 1 FROM taskgate_migrations LIMIT 1", logger: self.logger)
        }
    }

    /// From a million rows on, the task count is the planner's estimate (`pg_class.reltuples`,
    /// kept by autovacuum): `count(*)` reads the whole table, seconds at 10 million, on every
    /// scrape of `/metrics`. Below it the count is exact.
    public func statistics() async throws(GatewayError) -> StoreStatistics {
        try await perform("read") {
            let rows = try await self.client.query(
                """
                SELECT (SELECT CASE WHEN reltuples >= 1000000 THEN reltuples::bigint ELSE (SELECT count(*) FROM task) END
                        FROM pg_class WHERE oid = 'task'::regclass),
                  pg_total_relation_size('task') + pg_total_relation_size('vendor_call_budget') + pg_total_relation_size('artifact'),
                  (SELECT count(*) FROM artifact), (SELECT coalesce(sum(size), 0)::bigint FROM artifact)
                """,
                logger: self.logger
            )
            for try await (count, bytes, artifacts, artifactBytes) in rows.decode((Int, Int, Int, Int).self) {
                return StoreStatistics(rows: count, fileBytes: bytes, artifacts: artifacts, artifactBytes: artifactBytes)
            }
            return StoreStatistics(rows: 0, fileBytes: 0, artifacts: 0, artifactBytes: 0)
        }
    }
}
