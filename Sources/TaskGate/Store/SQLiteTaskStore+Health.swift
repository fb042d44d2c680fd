import Foundation
import GRDB
import Logging
import NIOCore
import Synchronization

/// `StoreHealth`: readiness and what the store holds.
extension SQLiteTaskStore {
    public func checkReadable() async throws(GatewayError) {
        _ = try await perform("read") {
            try await self.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM grdb_migrations") }
        }
    }

    public func statistics() async throws(GatewayError) -> StoreStatistics {
        try await perform("read") {
            try await self.pool.read { db in
                let rows = try Int.fetchOne(db, sql: "SELECT rows FROM task_count") ?? 0
                let pages = try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0
                let pageSize = try Int.fetchOne(db, sql: "PRAGMA page_size") ?? 0
                let artifacts = try Row.fetchOne(db, sql: "SELECT count(*), coalesce(sum(size), 0) FROM artifact")
                return StoreStatistics(
                    rows: rows,
                    fileBytes: pages * pageSize,
                    artifacts: artifacts?[0] ?? 0,
                    artifactBytes: artifacts?[1] ?? 0
                )
            }
        }
    }
}
