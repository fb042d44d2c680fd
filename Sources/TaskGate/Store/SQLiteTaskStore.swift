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
    private let hotReads: SQLiteHotReads
    let logger: Logger
    let metrics: GatewayMetrics?
    /// Writes waiting for the next group transaction, and whether one is running.
    private let writeQueue = Mutex<(pending: [(WriteOperation, WriteWaiter)], draining: Bool)>(([], false))

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

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: task") { db in
            try db.create(table: "task") { table in
                table.autoIncrementedPrimaryKey("sequence")
                table.column("provider", .text).notNull()
                table.column("task_id", .text).notNull()
                table.column("status", .text).notNull()
                table.column("is_final", .boolean).notNull()
                table.column("vendor_status", .text)
                table.column("body_gzip", .blob).notNull()
                table.column("etag", .text).notNull()
                table.column("fetched_at", .double).notNull()
                table.column("first_seen_at", .double).notNull()
                table.uniqueKey(["provider", "task_id"])
            }
            try db.create(index: "task_by_status", on: "task", columns: ["provider", "status", "sequence"])
        }
        migrator.registerMigration("v2: vendor_call_budget") { db in
            try db.create(table: "vendor_call_budget") { table in
                table.column("provider", .text).notNull()
                table.column("task_id", .text).notNull()
                table.column("calls", .integer).notNull()
                table.column("last_call_at", .double).notNull()
                table.primaryKey(["provider", "task_id"])
            }
        }
        migrator.registerMigration("v3: vendor_call_budget.spent_by_vendor") { db in
            try db.alter(table: "vendor_call_budget") { table in
                table.add(column: "spent_by_vendor", .boolean).notNull().defaults(to: false)
            }
        }
        migrator.registerMigration("v4: task.links_expire_at") { db in
            // When the answer's signed links expire (epoch seconds); null when it has none, and
            // for answers stored before taskgate looked (they are served as they were).
            try db.alter(table: "task") { table in table.add(column: "links_expire_at", .double) }
        }
        migrator.registerMigration("v5: artifact") { db in
            // Linked files kept (`mirror`), by the SHA-256 of their bytes; the gzipped body when
            // that is a tenth smaller.
            try db.create(table: "artifact") { table in
                table.primaryKey("sha256", .text)
                table.column("content_type", .text).notNull()
                table.column("size", .integer).notNull()
                table.column("body", .blob).notNull()
                table.column("body_gzip", .blob)
            }
        }
        migrator.registerMigration("v6: task watch") { db in
            // When anybody last looked at a not-final task (a caller's vendor answer, or the
            // background watch claiming it), and whether its watch has ended (horizon passed,
            // or the vendor forgot it).
            try db.alter(table: "task") { table in
                table.add(column: "watched_at", .double)
                table.add(column: "watch_ended", .boolean).notNull().defaults(to: false)
            }
            try db.execute(sql: "UPDATE task SET watched_at = fetched_at WHERE is_final = 0")
            try db.execute(sql: "CREATE INDEX task_watch ON task (provider, watched_at) WHERE is_final = 0 AND watch_ended = 0")
        }
        migrator.registerMigration("v7: webhook_event") { db in
            // The outbox: one row per receiver and final task, written with the final row.
            try db.create(table: "webhook_event") { table in
                table.primaryKey("id", .text)
                table.column("webhook", .text).notNull()
                table.column("provider", .text).notNull()
                table.column("task_id", .text).notNull()
                table.column("created_at", .double).notNull()
                table.column("payload", .blob).notNull()
                table.column("state", .text).notNull().defaults(to: "pending")
                table.column("attempts", .integer).notNull().defaults(to: 0)
                table.column("next_attempt_at", .double).notNull()
                table.column("last_error", .text)
                table.column("finished_at", .double)
            }
            try db.execute(sql: "CREATE INDEX webhook_event_due ON webhook_event (next_attempt_at) WHERE state = 'pending'")
        }
        // The row count `/metrics` shows, kept by triggers: count(*) reads the whole table (seconds
        // at ten million rows), on every scrape. Counted once here, when an older store upgrades.
        migrator.registerMigration("v8: task_count") { db in
            try db.execute(
                sql: """
                    CREATE TABLE task_count (only INTEGER PRIMARY KEY CHECK (only = 1), rows INTEGER NOT NULL);
                    INSERT INTO task_count (only, rows) SELECT 1, count(*) FROM task;
                    CREATE TRIGGER task_counted AFTER INSERT ON task BEGIN UPDATE task_count SET rows = rows + 1; END;
                    CREATE TRIGGER task_uncounted AFTER DELETE ON task BEGIN UPDATE task_count SET rows = rows - 1; END;
                    """
            )
        }
        // `GET /tasks?provider=` without a status: pages in sequence order straight from an index,
        // as deep in the list as at its start (not every row of the provider sorted per page).
        migrator.registerMigration("v9: task_by_provider") { db in
            try db.execute(sql: "CREATE INDEX task_by_provider ON task (provider, sequence)")
        }
        // Secrets every process on this store shares, made on first start (the cursor key).
        migrator.registerMigration("v10: gateway_secret") { db in
            try db.execute(sql: "CREATE TABLE gateway_secret (name TEXT PRIMARY KEY, value BLOB NOT NULL)")
        }
        return migrator
    }

    /// Read on the calling thread, as the hot path reads (one indexed read of a local file): an
    /// async read waits for a reader thread to be scheduled, milliseconds on busy cores, and every
    /// request that asks the vendor reads first.
    public func answer(provider: String, id: String) async throws(GatewayError) -> EncodedAnswer? {
        let answer = try await perform("read") {
            try self.pool.read { db in try Self.readAnswer(provider: provider, id: id, in: db) }
        }
        // nil: the row is there but unreadable; .some(nil): no row.
        guard let answer else {
            logger.error("a stored task has an unknown status", metadata: ["provider": "\(provider)"])
            throw GatewayError(.storeUnavailable, "A stored task could not be read.")
        }
        return answer
    }

    /// A stored final answer read on the calling thread (the hot path's event loop: one indexed
    /// read of a local file, like nginx reading a cached file). nil for anything else, errors
    /// included: the router then answers, and reports them.
    public func finalAnswerNow(provider: String, id: String) -> EncodedAnswer? {
        guard let answer = hotReads.answer(provider: provider, id: id), let answer, answer.isFinal
        else { return nil }
        return answer
    }

    /// Hot answers live in taskgate's own memory layer; SQLite's page cache per connection (8 MiB
    /// by default, times the connections) would mostly hold them twice.
    static let pageCacheSize = "PRAGMA cache_size = -2048"

    /// The read of one stored answer, by the router (`readAnswer`) and the hot path
    /// (`SQLiteHotReads`); its columns in the order `storedAnswer` takes them.
    static let answerQuery =
        "SELECT status, vendor_status, body_gzip, etag, fetched_at, links_expire_at FROM task WHERE provider = ? AND task_id = ?"

    /// One stored answer: `.some(nil)` when there is no row, nil when the row is unreadable.
    private static func readAnswer(provider: String, id: String, in db: Database) throws -> EncodedAnswer?? {
        // Prepared once per connection: the router's read of every task not in memory.
        let statement = try db.cachedStatement(sql: answerQuery)
        guard let row = try Row.fetchOne(statement, arguments: [provider, id]) else { return .some(nil) }
        let body: Data = row["body_gzip"]
        // An unreadable row is nil, not "no row".
        guard
            let answer = storedAnswer(
                provider: provider,
                id: id,
                status: row["status"],
                vendorStatus: row["vendor_status"],
                body: ByteBuffer(bytes: body),
                etag: row["etag"],
                fetchedAt: row["fetched_at"],
                linksExpireAt: row["links_expire_at"]
            )
        else { return nil }
        return answer
    }

    /// An answer from the columns of `answerQuery`; nil when they do not make one (an unknown
    /// status, an ETag that is not hex).
    static func storedAnswer(
        provider: String,
        id: String,
        status: String,
        vendorStatus: String?,
        body: ByteBuffer,
        etag: String,
        fetchedAt: Double,
        linksExpireAt: Double?
    ) -> EncodedAnswer? {
        guard let status = TaskStatus(rawValue: status), let validator = Validator(hex: etag) else { return nil }
        return EncodedAnswer(
            provider: provider,
            id: id,
            status: status,
            vendorStatus: vendorStatus,
            fetchedAt: Date(timeIntervalSince1970: fetchedAt),
            gzipBody: body,
            identityBody: nil,
            validator: validator,
            linksExpireAt: linksExpireAt.map(Date.init(timeIntervalSince1970:))
        )
    }

    /// Durable when it returns; written in a group with whatever else is waiting (one fsync).
    public func save(_ answer: EncodedAnswer, events: [WebhookEvent]) async throws(GatewayError) {
        _ = try await groupWrite(.save(answer, events: events))
    }

    /// Saves many answers in one transaction (one fsync), for imports and benchmarks: no outbox
    /// events.
    public func save(batch answers: [EncodedAnswer]) async throws(GatewayError) {
        try await perform("write") {
            try await self.pool.write { db in
                for answer in answers {
                    try Self.upsert(answer, events: [], in: db)
                }
            }
        }
    }

    /// Writes an answer; when it turns the task final, `events` go into the outbox with it.
    private static func upsert(_ answer: EncodedAnswer, events: [WebhookEvent], in db: Database) throws {
        let body = Data(answer.bytes.gzip.readableBytesView)
        try db.execute(
            sql: """
                INSERT INTO task (
                  provider, task_id, status, is_final, vendor_status, body_gzip, etag, fetched_at, first_seen_at, links_expire_at, watched_at
                )
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (provider, task_id) DO UPDATE SET
                  status = excluded.status, is_final = excluded.is_final, vendor_status = excluded.vendor_status,
                  body_gzip = excluded.body_gzip, etag = excluded.etag, fetched_at = excluded.fetched_at,
                  links_expire_at = excluded.links_expire_at, watched_at = excluded.watched_at
                WHERE task.is_final = 0
                """,
            arguments: [
                answer.provider, answer.id, answer.status.rawValue, answer.isFinal, answer.vendorStatus, body,
                answer.bytes.validator.hex, answer.fetchedAt.timeIntervalSince1970, answer.fetchedAt.timeIntervalSince1970,
                answer.bytes.linksExpireAt?.timeIntervalSince1970, answer.fetchedAt.timeIntervalSince1970,
            ]
        )
        guard answer.isFinal, db.changesCount > 0 else { return }
        let now = answer.fetchedAt.timeIntervalSince1970
        for event in events {
            try db.execute(
                sql: """
                    INSERT INTO webhook_event (id, webhook, provider, task_id, created_at, payload, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (id) DO NOTHING
                    """,
                arguments: [event.id, event.webhook, answer.provider, answer.id, now, Data(event.payload.readableBytesView), now]
            )
        }
    }

    /// The one change a final row takes: the same answer with its links signed afresh.
    private static func replaceFinal(_ answer: EncodedAnswer, in db: Database) throws -> Bool {
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
        guard case .replaced(let replaced) = try await groupWrite(.replaceFinal(answer)) else {
            throw GatewayError(.internal, "The store answered a replacement with something else.")
        }
        return replaced
    }

    public func reserveVendorCall(
        account provider: String,
        id: String,
        limit: Int,
        spacing: Double,
        now: Date
    ) async throws(GatewayError) -> VendorCallReservation {
        let request = BudgetRequest(provider: provider, id: id, limit: limit, spacing: spacing, now: now)
        guard case .reservation(let reservation) = try await groupWrite(.reserve(request)) else {
            throw GatewayError(.internal, "The store answered a reservation with something else.")
        }
        return reservation
    }

    public func markVendorBudgetSpent(account provider: String, id: String, now: Date) async throws(GatewayError) {
        _ = try await groupWrite(.markSpent(provider: provider, id: id, now: now))
    }

    struct BudgetRequest: Sendable {
        var provider: String
        var id: String
        var limit: Int
        var spacing: Double
        var now: Date
    }

    /// One write of the group writer.
    enum WriteOperation: Sendable {
        case save(EncodedAnswer, events: [WebhookEvent])
        case replaceFinal(EncodedAnswer)
        case reserve(BudgetRequest)
        case markSpent(provider: String, id: String, now: Date)
    }

    enum WriteOutcome: Sendable {
        case saved
        case replaced(Bool)
        case reservation(VendorCallReservation)
    }

    typealias WriteWaiter = CheckedContinuation<Result<WriteOutcome, GatewayError>, Never>

    /// Group commit: every write waiting while a transaction commits goes into the next one, so
    /// a polling storm costs one fsync per group rather than one per answer or vendor call, and
    /// each write is still durable before its caller goes on.
    private func groupWrite(_ operation: WriteOperation) async throws(GatewayError) -> WriteOutcome {
        let result = await withCheckedContinuation { (waiter: WriteWaiter) in
            let lead = writeQueue.withLock { queue in
                queue.pending.append((operation, waiter))
                defer { queue.draining = true }
                return !queue.draining
            }
            if lead { Task { await self.drainWriteQueue() } }
        }
        return try result.get()
    }

    /// Writes waiting operations, one transaction per group, until none is left.
    private func drainWriteQueue() async {
        while true {
            let batch = writeQueue.withLock { queue in
                defer { queue.pending.removeAll(keepingCapacity: true) }
                if queue.pending.isEmpty { queue.draining = false }
                return queue.pending
            }
            guard !batch.isEmpty else { return }
            let operations = batch.map(\.0)
            do throws(GatewayError) {
                let outcomes = try await perform("write") {
                    try await self.pool.write { db in
                        try operations.map { operation -> WriteOutcome in
                            switch operation {
                            case .save(let answer, let events):
                                try Self.upsert(answer, events: events, in: db)
                                return .saved
                            case .replaceFinal(let answer):
                                return .replaced(try Self.replaceFinal(answer, in: db))
                            case .reserve(let request):
                                return .reservation(try Self.reserve(request, in: db))
                            case .markSpent(let provider, let id, let now):
                                try db.execute(
                                    sql: """
                                        INSERT INTO vendor_call_budget (provider, task_id, calls, last_call_at, spent_by_vendor)
                                        VALUES (?, ?, 0, ?, 1)
                                        ON CONFLICT (provider, task_id) DO UPDATE SET spent_by_vendor = 1
                                        """,
                                    arguments: [provider, id, now.timeIntervalSince1970]
                                )
                                return .saved
                            }
                        }
                    }
                }
                for (index, (_, waiter)) in batch.enumerated() { waiter.resume(returning: .success(outcomes[index])) }
            } catch {
                for (_, waiter) in batch { waiter.resume(returning: .failure(error)) }
            }
        }
    }

    private static func reserve(_ request: BudgetRequest, in db: Database) throws -> VendorCallReservation {
        let row = try Row.fetchOne(
            db,
            sql: "SELECT calls, last_call_at, spent_by_vendor FROM vendor_call_budget WHERE provider = ? AND task_id = ?",
            arguments: [request.provider, request.id]
        )
        let calls: Int = row?["calls"] ?? 0
        let last: Double? = row?["last_call_at"]
        let spentByVendor: Bool = row?["spent_by_vendor"] ?? false
        if spentByVendor { return .spentByVendor(calls: calls) }
        if calls >= request.limit { return .exhausted(calls: calls) }
        let now = request.now.timeIntervalSince1970
        if let last, now < last + request.spacing {
            return .notBefore(Date(timeIntervalSince1970: last + request.spacing))
        }
        try db.execute(
            sql: """
                INSERT INTO vendor_call_budget (provider, task_id, calls, last_call_at) VALUES (?, ?, 1, ?)
                ON CONFLICT (provider, task_id) DO UPDATE SET calls = calls + 1, last_call_at = excluded.last_call_at
                """,
            arguments: [request.provider, request.id, now]
        )
        return .granted(calls: calls + 1)
    }

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

    public func claimWebhookEvents(webhook: String, now: Date, until: Date, limit: Int) async throws(GatewayError) -> [WebhookEvent] {
        try await perform("write") {
            try await self.pool.write { db in
                try Row.fetchAll(
                    db,
                    sql: """
                        UPDATE webhook_event SET next_attempt_at = ? WHERE id IN (
                          SELECT id FROM webhook_event WHERE state = 'pending' AND next_attempt_at <= ? AND webhook = ?
                          ORDER BY created_at, id LIMIT ?
                        ) RETURNING id, webhook, payload, attempts, created_at
                        """,
                    arguments: [until.timeIntervalSince1970, now.timeIntervalSince1970, webhook, limit]
                )
                .sorted { ($0["created_at"] as Double, $0["id"] as String) < ($1["created_at"] as Double, $1["id"] as String) }
                .map { row in
                    let payload: Data = row["payload"]
                    return WebhookEvent(id: row["id"], webhook: row["webhook"], payload: ByteBuffer(bytes: payload), attempts: row["attempts"])
                }
            }
        }
    }

    public func finishWebhookEvent(_ event: WebhookEvent, outcome: WebhookOutcome, now: Date) async throws(GatewayError) {
        let (state, next, error): (String, Double, String?) =
            switch outcome {
            case .delivered: ("delivered", now.timeIntervalSince1970, nil)
            case .retry(let at, let error): ("pending", at.timeIntervalSince1970, error)
            case .failed(let error): ("failed", now.timeIntervalSince1970, error)
            }
        try await perform("write") {
            try await self.pool.write { db in
                try db.execute(
                    sql: """
                        UPDATE webhook_event SET state = ?, attempts = ?, next_attempt_at = ?, last_error = ?,
                          finished_at = CASE WHEN ? = 'pending' THEN NULL ELSE ? END
                        WHERE id = ?
                        """,
                    arguments: [state, event.attempts + 1, next, error, state, now.timeIntervalSince1970, event.id]
                )
            }
        }
    }

    public func webhookBacklog() async throws(GatewayError) -> [WebhookBacklog] {
        try await perform("read") {
            try await self.pool.read { db in
                try Row.fetchAll(
                    db,
                    sql: "SELECT webhook, count(*), min(created_at) FROM webhook_event WHERE state = 'pending' GROUP BY webhook ORDER BY webhook"
                ).map { row in
                    WebhookBacklog(webhook: row[0], pending: row[1], oldestCreatedAt: (row[2] as Double?).map(Date.init(timeIntervalSince1970:)))
                }
            }
        }
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

    public func checkReadable() async throws(GatewayError) {
        _ = try await perform("read") {
            try await self.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM grdb_migrations") }
        }
    }

    public func sharedSecret(named name: String, candidate: [UInt8]) async throws(GatewayError) -> [UInt8] {
        try await perform("write") {
            try await self.pool.write { db in
                try db.execute(
                    sql: "INSERT INTO gateway_secret (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
                    arguments: [name, Data(candidate)]
                )
                return try [UInt8](Data.fetchOne(db, sql: "SELECT value FROM gateway_secret WHERE name = ?", arguments: [name]) ?? Data())
            }
        }
    }

    public func keepArtifact(_ artifact: StoredArtifact) async throws(GatewayError) {
        try await perform("write") {
            try await self.pool.write { db in
                try db.execute(
                    sql: "INSERT INTO artifact (sha256, content_type, size, body, body_gzip) VALUES (?, ?, ?, ?, ?) ON CONFLICT (sha256) DO NOTHING",
                    arguments: [
                        artifact.sha256, artifact.contentType, artifact.body.readableBytes, Data(artifact.body.readableBytesView),
                        artifact.gzipBody.map { Data($0.readableBytesView) },
                    ]
                )
            }
        }
    }

    public func artifact(sha256: String) async throws(GatewayError) -> StoredArtifact? {
        try await perform("read") {
            try await self.pool.read { db in
                try Row.fetchOne(db, sql: "SELECT content_type, body, body_gzip FROM artifact WHERE sha256 = ?", arguments: [sha256]).map { row in
                    let body: Data = row["body"]
                    let gzip: Data? = row["body_gzip"]
                    return StoredArtifact(
                        sha256: sha256,
                        contentType: row["content_type"],
                        body: ByteBuffer(bytes: body),
                        gzipBody: gzip.map { ByteBuffer(bytes: $0) }
                    )
                }
            }
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

    /// Closes the pool once every connection is idle (WAL checkpointed by SQLite on last close).
    public func close() throws {
        hotReads.close()
        try pool.close()
    }

    /// Runs a database operation and turns any failure into one logged `store-unavailable` error.
    fileprivate func perform<T: Sendable>(_ operation: String, _ body: @Sendable () async throws -> T) async throws(GatewayError) -> T {
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

extension SQLiteTaskStore {
    public func exportTasks(afterSequence: Int64, limit: Int) async throws(GatewayError) -> [StoredTaskRow] {
        try await perform("read") {
            try await self.pool.read { db in
                try Row.fetchAll(
                    db,
                    sql: """
                        SELECT sequence, provider, task_id, status, is_final, vendor_status, body_gzip, etag, fetched_at, first_seen_at,
                          links_expire_at
                        FROM task WHERE sequence > ? ORDER BY sequence LIMIT ?
                        """,
                    arguments: [afterSequence, limit]
                ).map { row in
                    let body: Data = row["body_gzip"]
                    return StoredTaskRow(
                        sequence: row["sequence"],
                        provider: row["provider"],
                        taskID: row["task_id"],
                        status: row["status"],
                        isFinal: row["is_final"],
                        vendorStatus: row["vendor_status"],
                        bodyGzip: ByteBuffer(bytes: body),
                        etag: row["etag"],
                        fetchedAt: row["fetched_at"],
                        firstSeenAt: row["first_seen_at"],
                        linksExpireAt: row["links_expire_at"]
                    )
                }
            }
        }
    }

    public func exportBudgets(after: (account: String, taskID: String)?, limit: Int) async throws(GatewayError) -> [StoredBudgetRow] {
        let (account, taskID) = after ?? ("", "")
        let first = after == nil
        return try await perform("read") {
            try await self.pool.read { db in
                // The budget's account key is kept in the column named `provider` (see migration v2).
                try Row.fetchAll(
                    db,
                    sql: """
                        SELECT provider, task_id, calls, last_call_at, spent_by_vendor FROM vendor_call_budget
                        WHERE ? OR (provider, task_id) > (?, ?) ORDER BY provider, task_id LIMIT ?
                        """,
                    arguments: [first, account, taskID, limit]
                ).map { row in
                    StoredBudgetRow(
                        account: row["provider"],
                        taskID: row["task_id"],
                        calls: row["calls"],
                        lastCallAt: row["last_call_at"],
                        spentByVendor: row["spent_by_vendor"]
                    )
                }
            }
        }
    }

    public func importRows(tasks: [StoredTaskRow], budgets: [StoredBudgetRow]) async throws(GatewayError) {
        try await perform("write") {
            try await self.pool.write { db in
                for task in tasks {
                    try db.execute(
                        sql: """
                            INSERT INTO task (provider, task_id, status, is_final, vendor_status, body_gzip, etag, fetched_at, first_seen_at,
                              links_expire_at, watched_at)
                            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                            """,
                        arguments: [
                            task.provider, task.taskID, task.status, task.isFinal, task.vendorStatus, Data(task.bodyGzip.readableBytesView),
                            task.etag, task.fetchedAt, task.firstSeenAt, task.linksExpireAt, task.fetchedAt,
                        ]
                    )
                }
                for budget in budgets {
                    try db.execute(
                        sql: """
                            INSERT INTO vendor_call_budget (provider, task_id, calls, last_call_at, spent_by_vendor) VALUES (?, ?, ?, ?, ?)
                            """,
                        arguments: [budget.account, budget.taskID, budget.calls, budget.lastCallAt, budget.spentByVendor]
                    )
                }
            }
        }
    }

    public func exportArtifacts(after: String?, limit: Int) async throws(GatewayError) -> [StoredArtifact] {
        try await perform("read") {
            try await self.pool.read { db in
                try Row.fetchAll(
                    db,
                    sql: "SELECT sha256, content_type, body, body_gzip FROM artifact WHERE sha256 > ? ORDER BY sha256 LIMIT ?",
                    arguments: [after ?? "", limit]
                ).map { row in
                    let body: Data = row["body"]
                    let gzip: Data? = row["body_gzip"]
                    return StoredArtifact(
                        sha256: row["sha256"],
                        contentType: row["content_type"],
                        body: ByteBuffer(bytes: body),
                        gzipBody: gzip.map { ByteBuffer(bytes: $0) }
                    )
                }
            }
        }
    }

    public func exportWebhookEvents(after: String?, limit: Int) async throws(GatewayError) -> [StoredWebhookEventRow] {
        try await perform("read") {
            try await self.pool.read { db in
                try Row.fetchAll(
                    db,
                    sql: """
                        SELECT id, webhook, provider, task_id, created_at, payload, state, attempts, next_attempt_at, last_error, finished_at
                        FROM webhook_event WHERE id > ? ORDER BY id LIMIT ?
                        """,
                    arguments: [after ?? "", limit]
                ).map { row in
                    let payload: Data = row["payload"]
                    return StoredWebhookEventRow(
                        id: row["id"],
                        webhook: row["webhook"],
                        provider: row["provider"],
                        taskID: row["task_id"],
                        createdAt: row["created_at"],
                        payload: ByteBuffer(bytes: payload),
                        state: row["state"],
                        attempts: row["attempts"],
                        nextAttemptAt: row["next_attempt_at"],
                        lastError: row["last_error"],
                        finishedAt: row["finished_at"]
                    )
                }
            }
        }
    }

    public func importWebhookEvents(_ events: [StoredWebhookEventRow]) async throws(GatewayError) {
        try await perform("write") {
            try await self.pool.write { db in
                for event in events {
                    try db.execute(
                        sql: """
                            INSERT INTO webhook_event (id, webhook, provider, task_id, created_at, payload, state, attempts, next_attempt_at,
                              last_error, finished_at)
                            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                            """,
                        arguments: [
                            event.id, event.webhook, event.provider, event.taskID, event.createdAt, Data(event.payload.readableBytesView),
                            event.state, event.attempts, event.nextAttemptAt, event.lastError, event.finishedAt,
                        ]
                    )
                }
            }
        }
    }

    public func webhookEventCount() async throws(GatewayError) -> Int {
        try await perform("read") {
            try await self.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM webhook_event") ?? 0 }
        }
    }

    public func rowCounts() async throws(GatewayError) -> (tasks: Int, budgets: Int) {
        try await perform("read") {
            try await self.pool.read { db in
                (
                    try Int.fetchOne(db, sql: "SELECT count(*) FROM task") ?? 0,
                    try Int.fetchOne(db, sql: "SELECT count(*) FROM vendor_call_budget") ?? 0
                )
            }
        }
    }
}

/// The store could not be opened or migrated: startup stops with this message.
public struct StoreOpenError: Error, CustomStringConvertible {
    public var path: String
    public var reason: String
    /// The store is there but must not be touched (written by a newer taskgate): retrying
    /// cannot help.
    public var isRefusal = false

    public init(path: String, reason: String, isRefusal: Bool = false) {
        self.path = path
        self.reason = reason
        self.isRefusal = isRefusal
    }

    public var description: String { "cannot open the task store at \(path): \(reason)" }
}
