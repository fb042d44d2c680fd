import Foundation
import Logging
import NIOCore

/// One task row as it is kept, for copying between stores (`taskgate migrate-store`).
public struct StoredTaskRow: Sendable, Equatable {
    /// Its place in the source; the destination gives its own, in the same order.
    public var sequence: Int64
    public var provider: String
    public var taskID: String
    public var status: String
    public var isFinal: Bool
    public var vendorStatus: String?
    public var bodyGzip: ByteBuffer
    public var etag: String
    public var fetchedAt: Double
    public var firstSeenAt: Double
    /// When the answer's signed links expire (epoch seconds); nil when it has none.
    public var linksExpireAt: Double?
    /// The first request's W3C trace context, when it was traced.
    public var traceParent: String? = nil
}

/// One outbox event (webhooks), as it is kept, for copying between stores.
public struct StoredWebhookEventRow: Sendable, Equatable {
    public var id: String
    public var webhook: String
    public var provider: String
    public var taskID: String
    public var createdAt: Double
    public var payload: ByteBuffer
    public var state: String
    public var attempts: Int
    public var nextAttemptAt: Double
    public var lastError: String?
    public var finishedAt: Double?
}

/// One task's vendor-call count (CapMonster's per-task budget), for copying between stores.
public struct StoredBudgetRow: Sendable, Equatable {
    public var account: String
    public var taskID: String
    public var calls: Int
    public var lastCallAt: Double
    public var spentByVendor: Bool
}

/// A store whose rows can be read out and written in as they are.
public protocol TransferableStore: TaskStore {
    /// Tasks after `afterSequence`, in the order taskgate first saw them.
    func exportTasks(afterSequence: Int64, limit: Int) async throws(GatewayError) -> [StoredTaskRow]
    /// Budgets after `after` (account, task id), in that order.
    func exportBudgets(after: (account: String, taskID: String)?, limit: Int) async throws(GatewayError) -> [StoredBudgetRow]
    /// Kept files after the SHA-256 `after`, in that order.
    func exportArtifacts(after: String?, limit: Int) async throws(GatewayError) -> [StoredArtifact]
    /// Outbox events after the id `after`, in that order, delivered or not.
    func exportWebhookEvents(after: String?, limit: Int) async throws(GatewayError) -> [StoredWebhookEventRow]
    /// Writes outbox events as they are, in one transaction; returns how many the store holds.
    func importWebhookEvents(_ events: [StoredWebhookEventRow]) async throws(GatewayError)
    /// Outbox events held, delivered or not.
    func webhookEventCount() async throws(GatewayError) -> Int
    /// Writes rows as they are, in one transaction; tasks get this store's sequence in the order given.
    func importRows(tasks: [StoredTaskRow], budgets: [StoredBudgetRow]) async throws(GatewayError)
    /// How many tasks and budgets the store holds.
    func rowCounts() async throws(GatewayError) -> (tasks: Int, budgets: Int)
}

/// Copies every row of one store into another, empty one: SQLite to PostgreSQL or back.
public enum StoreTransfer {
    public struct Summary: Sendable, Equatable {
        public var tasks: Int
        public var budgets: Int
        public var artifacts = 0
        public var webhookEvents = 0
    }

    /// Rows per read and per destination transaction.
    static let batchSize = 1_000
    /// Kept files per read: each may be `mirror_max_bytes` large.
    static let artifactBatchSize = 8

    /// Copies every task (final and not), every budget and every kept file, then checks both
    /// stores hold the same counts. Run it with taskgate stopped: rows written to the source meanwhile fail the check.
    /// - Throws: `StoreTransferError` when the destination holds rows, a store fails, or the
    ///   counts differ.
    public static func copy(
        from source: any TransferableStore,
        to destination: any TransferableStore
    ) async throws(StoreTransferError) -> Summary {
        do {
            let held = try await destination.rowCounts()
            guard held.tasks == 0, held.budgets == 0 else {
                throw StoreTransferError(
                    "the destination holds \(held.tasks) tasks and \(held.budgets) budgets; taskgate copies only into an empty store"
                )
            }
            var copied = Summary(tasks: 0, budgets: 0)
            var after: Int64 = 0
            while true {
                let tasks = try await source.exportTasks(afterSequence: after, limit: batchSize)
                guard let last = tasks.last else { break }
                try await destination.importRows(tasks: tasks, budgets: [])
                copied.tasks += tasks.count
                after = last.sequence
            }
            var afterBudget: (account: String, taskID: String)?
            while true {
                let budgets = try await source.exportBudgets(after: afterBudget, limit: batchSize)
                guard let last = budgets.last else { break }
                try await destination.importRows(tasks: [], budgets: budgets)
                copied.budgets += budgets.count
                afterBudget = (last.account, last.taskID)
            }
            var afterArtifact: String?
            while true {
                let artifacts = try await source.exportArtifacts(after: afterArtifact, limit: artifactBatchSize)
                guard let last = artifacts.last else { break }
                for artifact in artifacts { try await destination.keepArtifact(artifact) }
                copied.artifacts += artifacts.count
                afterArtifact = last.sha256
            }
            var afterEvent: String?
            while true {
                let events = try await source.exportWebhookEvents(after: afterEvent, limit: batchSize)
                guard let last = events.last else { break }
                try await destination.importWebhookEvents(events)
                copied.webhookEvents += events.count
                afterEvent = last.id
            }
            let (sourceEvents, destinationEvents) = (try await source.webhookEventCount(), try await destination.webhookEventCount())
            guard sourceEvents == copied.webhookEvents, destinationEvents == copied.webhookEvents else {
                throw StoreTransferError(
                    "the webhook events differ after the copy: source \(sourceEvents), copied \(copied.webhookEvents), destination \(destinationEvents)"
                )
            }
            let (sourceFiles, destinationFiles) = (try await source.statistics().artifacts, try await destination.statistics().artifacts)
            guard sourceFiles == copied.artifacts, destinationFiles == copied.artifacts else {
                throw StoreTransferError(
                    "the kept files differ after the copy: source \(sourceFiles), copied \(copied.artifacts), destination \(destinationFiles)"
                )
            }
            let (sourceCounts, destinationCounts) = (try await source.rowCounts(), try await destination.rowCounts())
            guard sourceCounts == (copied.tasks, copied.budgets), destinationCounts == (copied.tasks, copied.budgets) else {
                throw StoreTransferError(
                    """
                    the counts differ after the copy: source \(sourceCounts.tasks) tasks / \(sourceCounts.budgets) budgets, \
                    copied \(copied.tasks) / \(copied.budgets), destination \(destinationCounts.tasks) / \(destinationCounts.budgets) \
                    (was taskgate running on the source?)
                    """
                )
            }
            return copied
        } catch let error as StoreTransferError {
            throw error
        } catch {
            throw StoreTransferError("a store failed during the copy: \((error as? GatewayError)?.detail ?? "\(error)")")
        }
    }
}

/// Why a copy between stores stopped.
public struct StoreTransferError: Error, CustomStringConvertible {
    public var description: String

    public init(_ description: String) { self.description = description }
}

extension StoreLocation {
    /// Opens the store here for a tool (`migrate-store`, tests), runs `body` with it, and closes it.
    /// A PostgreSQL store's connection pool runs for as long as `body` does.
    /// - Parameter mustExist: refuse an SQLite path with no file rather than create a store there.
    public func withStore<T: Sendable>(
        logger: Logger,
        mustExist: Bool = false,
        _ body: @Sendable (any TransferableStore) async throws -> T
    ) async throws -> T {
        switch self {
        case .sqlite(let path):
            guard !mustExist || FileManager.default.fileExists(atPath: path) else {
                throw StoreTransferError("there is no store at \(path)")
            }
            let store = try SQLiteTaskStore(path: path, logger: logger)
            defer { try? store.close() }
            return try await body(store)
        case .postgres(let url):
            let store = PostgresTaskStore(url: url, poolSize: 2, logger: logger)
            return try await withThrowingTaskGroup(of: T?.self) { group in
                group.addTask {
                    try await store.run()
                    return nil
                }
                defer { group.cancelAll() }
                try await store.waitUntilReady()
                return try await body(store)
            }
        }
    }
}
