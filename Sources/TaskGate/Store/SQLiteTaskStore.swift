import Foundation
import GRDB
import Logging
import NIOCore
import Synchronization

/// The task store on one SQLite file through a GRDB `DatabasePool` (WAL: readers never wait
/// for the writer).
public final class SQLiteTaskStore: TransferableStore {
    let pool: DatabasePool
    /// The hot path's reads, on connections of the event loops' own.
    let hotReads: SQLiteHotReads
    let logger: Logger
    let metrics: GatewayMetrics?
    /// Group commit: the writes waiting for the next transaction (`runWriter`).
    let writer = SQLiteGroupWriter()
    /// The event feed's readers in this process, woken after a commit that wrote an event.
    let eventWatches = TaskChangeWatches()

    /// Opens (creating if needed) and migrates the store.
    /// - Throws: `StoreOpenError` naming the file and the cause; startup must stop.
    public init(path: String, logger: Logger, metrics: GatewayMetrics? = nil) throws(StoreOpenError) {
        var configuration = Configuration()
        configuration.label = "taskgate.store"
        configuration.busyMode = .timeout(5)
        // The router's reads are single indexed lookups, each over in microseconds (the event
        // loops read through connections of their own, SQLiteHotReads): three connections, each
        // with its page cache, are plenty.
        configuration.maximumReaderCount = 3
        configuration.prepareDatabase { db in
            // Full durability: a final answer is on disk before the caller sees it.
            try db.execute(sql: "PRAGMA synchronous = FULL")
            try db.execute(sql: Self.pageCacheSize)
        }
        try Self.checkIsTaskgateStore(path: path)
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
        } catch {
            throw StoreOpenError(path: path, reason: Self.describe(error))
        }
        do {
            let migrator = Self.migrator
            if try pool.read({ try migrator.hasBeenSuperseded($0) }) {
                throw StoreOpenError(path: path, reason: "it was written by a newer taskgate (unknown migrations); refusing to touch it")
            }
            try migrator.migrate(pool)
        } catch let error as StoreOpenError {
            throw error
        } catch {
            throw StoreOpenError(path: path, reason: Self.describe(error))
        }
        self.hotReads = SQLiteHotReads(path: path)
        self.logger = logger
        self.metrics = metrics
    }

    /// Throws unless the file at `path` is missing, empty, or a taskgate store (its migrations
    /// begin with taskgate's first): another program's database is never adopted. Read-only, so a
    /// refused file is left exactly as it was (opening the pool would already switch it to WAL).
    static func checkIsTaskgateStore(path: String) throws(StoreOpenError) {
        guard let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int, size > 0 else { return }
        let verdict: String?
        do {
            var configuration = Configuration()
            configuration.readonly = true
            // Another process opening the same file at this instant holds it briefly.
            configuration.busyMode = .timeout(5)
            let database = try DatabaseQueue(path: path, configuration: configuration)
            defer { try? database.close() }
            verdict = try database.read { db -> String? in
                let tables = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
                guard !tables.isEmpty else { return nil }
                let ours =
                    try tables.contains("grdb_migrations")
                    && Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM grdb_migrations WHERE identifier = 'v1: task')") == true
                return ours
                    ? nil : "it holds tables (\(tables.sorted().prefix(5).joined(separator: ", "))) and no taskgate schema; refusing to touch it"
            }
        } catch {
            throw StoreOpenError(path: path, reason: "it cannot be read as SQLite: \(Self.describe(error))", isRefusal: true)
        }
        if let verdict { throw StoreOpenError(path: path, reason: verdict, isRefusal: true) }
    }

    /// Hot answers live in taskgate's own memory layer; SQLite's page cache per connection (8 MiB
    /// by default, times the connections) would mostly hold them twice.
    static let pageCacheSize = "PRAGMA cache_size = -2048"

    /// Closes the pool once every connection is idle (WAL checkpointed by SQLite on last close).
    public func close() throws {
        hotReads.close()
        try pool.close()
    }

    /// Runs a database operation and turns any failure into one logged `store-unavailable` error.
    func perform<T: Sendable>(_ operation: String, _ body: @Sendable () async throws -> T) async throws(GatewayError) -> T {
        let started = ContinuousClock.now
        defer { metrics?.storeOperation(operation, duration: ContinuousClock.now - started) }
        do {
            return try await body()
        } catch {
            logger.error("store \(operation) failed", metadata: ["error": "\(Self.describe(error))"])
            metrics?.storeFailure(operation: operation)
            throw GatewayError(.storeUnavailable, "The task store could not \(operation).")
        }
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? DatabaseError {
            return "\(error.resultCode): \(error.message ?? "")"
        }
        return "\(error)"
    }
}
