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

/// One feed event, as it is kept, for copying between stores: it keeps its position, so feed
/// cursors (sealed with a shared `cursor_secret`) still read on from the same place.
public struct StoredEventRow: Sendable, Equatable {
    public var sequence: Int64
    public var id: String
    public var type: String
    public var provider: String
    public var taskID: String
    public var createdAt: Double
    public var payload: ByteBuffer
}

/// One webhook delivery, as it is kept, for copying between stores.
public struct StoredDeliveryRow: Sendable, Equatable {
    public var webhook: String
    public var eventSequence: Int64
    public var state: String
    public var attempts: Int
    /// The attempts, a JSON array (`WebhookAttempt`).
    public var attemptLog: String
    public var nextAttemptAt: Double
    public var queuedAt: Double
}

/// The feed's ends: the last position written and the one trimmed through.
public struct EventFeedEnds: Sendable, Equatable {
    public var last: Int64
    public var trimmedThrough: Int64
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
    /// Feed events after position `afterSequence`, in feed order.
    func exportEvents(afterSequence: Int64, limit: Int) async throws(GatewayError) -> [StoredEventRow]
    /// Deliveries after (event position, webhook) `after`, in that order, whatever their state.
    func exportDeliveries(after: (sequence: Int64, webhook: String)?, limit: Int) async throws(GatewayError) -> [StoredDeliveryRow]
    /// Writes events (at their positions) and deliveries as they are, in one transaction.
    func importEvents(_ events: [StoredEventRow], deliveries: [StoredDeliveryRow]) async throws(GatewayError)
    /// The feed's ends.
    func eventFeedEnds() async throws(GatewayError) -> EventFeedEnds
    /// Sets the feed's ends (after an import: the next event follows the source's last).
    func setEventFeedEnds(_ ends: EventFeedEnds) async throws(GatewayError)
    /// Events and deliveries held.
    func eventCounts() async throws(GatewayError) -> (events: Int, deliveries: Int)
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
        public var events = 0
        public var deliveries = 0
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
            var afterEvent: Int64 = 0
            while true {
                let events = try await source.exportEvents(afterSequence: afterEvent, limit: batchSize)
                guard let last = events.last else { break }
                try await destination.importEvents(events, deliveries: [])
                copied.events += events.count
                afterEvent = last.sequence
            }
            var afterDelivery: (sequence: Int64, webhook: String)?
            while true {
                let deliveries = try await source.exportDeliveries(after: afterDelivery, limit: batchSize)
                guard let last = deliveries.last else { break }
                try await destination.importEvents([], deliveries: deliveries)
                copied.deliveries += deliveries.count
                afterDelivery = (last.eventSequence, last.webhook)
            }
            try await destination.setEventFeedEnds(try await source.eventFeedEnds())
            let (sourceEvents, destinationEvents) = (try await source.eventCounts(), try await destination.eventCounts())
            guard sourceEvents == (copied.events, copied.deliveries), destinationEvents == (copied.events, copied.deliveries) else {
                throw StoreTransferError(
                    """
                    the events differ after the copy: source \(sourceEvents.events) events / \(sourceEvents.deliveries) deliveries, \
                    copied \(copied.events) / \(copied.deliveries), destination \(destinationEvents.events) / \(destinationEvents.deliveries)
                    """
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
