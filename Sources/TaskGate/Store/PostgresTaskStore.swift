import Foundation
import Logging
import NIOCore
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// The task store in a PostgreSQL database that several replicas share (`store: postgres://…`).
///
/// The same contract as `SQLiteTaskStore`, decided in the database so it holds across replicas:
/// a final row is never replaced (the upsert's `WHERE NOT is_final`), a vendor call is counted
/// with a row lock (`FOR UPDATE`), every write commits before it returns. The connection pool
/// (`PostgresClient`) runs as a service of the application and reconnects by itself.
///
/// A database that is down never stops the process: `run` keeps trying to reach it and bring
/// its schema up to date, and every operation is bounded (`operationTimeout`, 5 s; `/readyz`'s
/// 1.5 s), so requests that need the store get 503 `store-unavailable` and `/readyz` 503, until
/// it is back.
public final class PostgresTaskStore: TransferableStore, RateSlotStore, Service {
    let client: PostgresClient
    let logger: Logger
    let metrics: GatewayMetrics?
    /// Longest a store operation may take, waiting for a connection included.
    let operationTimeout: Duration
    private let state = Mutex(Phase.starting)
    /// Waiters on other replicas' work, woken by `NOTIFY taskgate_task`.
    private let changes = TaskChangeWatches()
    /// The channel a save or a lease release is announced on, naming the task.
    static let changeChannel = "taskgate_task"
    /// Whether this replica hears the others' announcements now.
    let listening = Mutex(false)

    enum Phase: Sendable {
        /// The schema has not been checked yet (the database may be unreachable).
        case starting
        case ready
        /// The database cannot be used by this taskgate (written by a newer one).
        case refused(StoreOpenError)
    }

    public init(
        url: PostgresStoreURL,
        poolSize: Int,
        logger: Logger,
        metrics: GatewayMetrics? = nil,
        operationTimeout: Duration = .seconds(5)
    ) {
        let tls: PostgresClient.Configuration.TLS = url.requiresTLS ? .require(.makeClientConfiguration()) : .disable
        var configuration = PostgresClient.Configuration(
            host: url.host,
            port: url.port,
            username: url.user,
            password: url.password,
            database: url.database,
            tls: tls
        )
        configuration.options.maximumConnections = poolSize
        configuration.options.connectTimeout = .seconds(2)
        configuration.options.additionalStartupParameters = [("application_name", "taskgate")]
        var background = logger
        background[metadataKey: "component"] = "store"
        self.client = PostgresClient(configuration: configuration, backgroundLogger: background)
        self.logger = logger
        self.metrics = metrics
        self.operationTimeout = operationTimeout
    }

    /// Runs the connection pool until the application shuts down, and brings the schema up to
    /// date as soon as the database answers (retrying while it does not).
    /// - Throws: `StoreOpenError` when the database was written by a newer taskgate: the process
    ///   must stop rather than touch it.
    public func run() async throws {
        try await cancelWhenGracefulShutdown {
            try await withThrowingTaskGroup(of: Void.self) { group in
                // The pool is running before the first query (else postgres-nio warns that it is not).
                let (running, announce) = AsyncStream<Never>.makeStream()
                group.addTask {
                    announce.finish()
                    await self.client.run()
                }
                for await _ in running {}
                try await self.prepareSchema()
                group.addTask { await self.listenForChanges() }
                try await group.next()
            }
        }
    }

    /// Migrates as soon as the database answers, retrying with backoff while it does not.
    private func prepareSchema() async throws(StoreOpenError) {
        var wait = Duration.milliseconds(100)
        while !Task.isCancelled {
            do throws(StoreOpenError) {
                try await migrate()
                state.withLock { $0 = .ready }
                logger.info("store ready", metadata: ["store": "postgres"])
                return
            } catch  where error.isRefusal {
                state.withLock { $0 = .refused(error) }
                logger.critical("\(error)")
                throw error
            } catch {
                logger.error(
                    "store not reachable; retrying",
                    metadata: ["error": "\(error.reason)", "retry_in_ms": "\(wait.nanoseconds / 1_000_000)"]
                )
                try? await Task.sleep(for: wait)
                wait = min(wait * 2, .seconds(5))
            }
        }
    }

    /// Keeps one connection listening for other replicas' saves and lease releases, and wakes
    /// this process's watches on them. The connection is one of the pool's (`store_pool`).
    private func listenForChanges() async {
        while !Task.isCancelled {
            do {
                try await client.withConnection { connection in
                    try await connection.listen(on: Self.changeChannel) { notifications in
                        self.listening.withLock { $0 = true }
                        defer { self.listening.withLock { $0 = false } }
                        // Whatever was announced while nobody listened is lost: look again.
                        self.changes.deliverToAll()
                        for try await notification in notifications { self.changes.deliver(notification.payload) }
                    }
                }
            } catch {
                guard !Task.isCancelled else { return }
                logger.warning("store change listener stopped; restarting", metadata: ["error": "\(Self.describe(error))"])
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// Waits until the schema is checked: before the server listens, and for tools and tests.
    /// - Throws: the refusal, or `StoreOpenError` when the database did not answer within `timeout`.
    public func waitUntilReady(timeout: Duration = .seconds(30)) async throws(StoreOpenError) {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            switch state.withLock({ $0 }) {
            case .ready: return
            case .refused(let error): throw error
            case .starting: try? await Task.sleep(for: .milliseconds(10))
            }
        }
        throw StoreOpenError(path: locationDescription, reason: "the database did not answer within \(timeout)")
    }

    // MARK: - Schema

    /// Every schema change, in order; a database that has applied one taskgate does not know was
    /// written by a newer taskgate, and this one refuses to touch it.
    static let migrations: [(name: String, sql: [String])] = [
        (
            "v1: task",
            [
                """
                CREATE TABLE task (
                    sequence bigserial PRIMARY KEY,
                    provider text NOT NULL,
                    task_id text NOT NULL,
                    status text NOT NULL,
                    is_final boolean NOT NULL,
                    vendor_status text,
                    body_gzip bytea NOT NULL,
                    etag text NOT NULL,
                    fetched_at double precision NOT NULL,
                    first_seen_at double precision NOT NULL,
                    UNIQUE (provider, task_id)
                )
                """,
                "CREATE INDEX task_by_status ON task (provider, status, sequence)",
            ]
        ),
        (
            "v2: vendor_call_budget",
            [
                """
                CREATE TABLE vendor_call_budget (
                    account text NOT NULL,
                    task_id text NOT NULL,
                    calls integer NOT NULL,
                    last_call_at double precision NOT NULL,
                    PRIMARY KEY (account, task_id)
                )
                """
            ]
        ),
        (
            "v3: vendor_call_budget.spent_by_vendor",
            ["ALTER TABLE vendor_call_budget ADD COLUMN spent_by_vendor boolean NOT NULL DEFAULT false"]
        ),
        (
            "v4: task_lease",
            [
                """
                CREATE TABLE task_lease (
                    provider text NOT NULL,
                    task_id text NOT NULL,
                    holder text NOT NULL,
                    until double precision NOT NULL,
                    PRIMARY KEY (provider, task_id)
                )
                """
            ]
        ),
        (
            "v5: vendor_rate",
            [
                // One GCRA timestamp per vendor account (epoch seconds): when its bucket is full
                // again. Unlogged: taking a slot waits for no WAL flush (0.4 → 0.18 ms a call,
                // bench/shared-rate.sh), and a bucket emptied by a database crash is harmless.
                "CREATE UNLOGGED TABLE vendor_rate (account text PRIMARY KEY, full_at double precision NOT NULL)"
            ]
        ),
        (
            // A lease lives seconds; one lost in a database crash only lets a second replica ask.
            "v6: task_lease unlogged",
            ["ALTER TABLE task_lease SET UNLOGGED"]
        ),
        (
            // Whether another replica waited on the lease: only then does its release notify
            // (a NOTIFY serializes commits; one per vendor call cost a third of the miss path).
            "v7: task_lease.contended",
            ["ALTER TABLE task_lease ADD COLUMN contended boolean NOT NULL DEFAULT false"]
        ),
        (
            // When the answer's signed links expire (epoch seconds); null when it has none.
            "v8: task.links_expire_at",
            ["ALTER TABLE task ADD COLUMN links_expire_at double precision"]
        ),
        (
            // Linked files kept (`mirror`), by the SHA-256 of their bytes.
            "v9: artifact",
            [
                """
                CREATE TABLE artifact (
                    sha256 text PRIMARY KEY,
                    content_type text NOT NULL,
                    size bigint NOT NULL,
                    body bytea NOT NULL,
                    body_gzip bytea
                )
                """
            ]
        ),
        (
            // When anybody last looked at a not-final task (a caller's vendor answer, or the
            // background watch claiming it), and whether its watch has ended.
            "v10: task watch",
            [
                "ALTER TABLE task ADD COLUMN watched_at double precision",
                "ALTER TABLE task ADD COLUMN watch_ended boolean NOT NULL DEFAULT false",
                "UPDATE task SET watched_at = fetched_at WHERE NOT is_final",
                "CREATE INDEX task_watch ON task (provider, watched_at) WHERE NOT is_final AND NOT watch_ended",
            ]
        ),
        (
            // The outbox: one row per receiver and final task, written with the final row.
            "v11: webhook_event",
            [
                """
                CREATE TABLE webhook_event (
                    id text PRIMARY KEY,
                    webhook text NOT NULL,
                    provider text NOT NULL,
                    task_id text NOT NULL,
                    created_at double precision NOT NULL,
                    payload bytea NOT NULL,
                    state text NOT NULL DEFAULT 'pending',
                    attempts integer NOT NULL DEFAULT 0,
                    next_attempt_at double precision NOT NULL,
                    last_error text,
                    finished_at double precision
                )
                """,
                "CREATE INDEX webhook_event_due ON webhook_event (next_attempt_at) WHERE state = 'pending'",
            ]
        ),
        (
            // `GET /tasks?provider=` without a status: pages in sequence order straight from an
            // index, as deep in the list as at its start (not every row of the provider sorted).
            "v12: task_by_provider",
            ["CREATE INDEX task_by_provider ON task (provider, sequence)"]
        ),
        (
            // Secrets every replica shares, made by the first to start (the cursor key).
            "v13: gateway_secret",
            ["CREATE TABLE gateway_secret (name text PRIMARY KEY, value bytea NOT NULL)"]
        ),
    ]

    /// Creates or brings the schema up to date, once across replicas starting together (an
    /// advisory lock held for the transaction).
    /// - Throws: `StoreOpenError` when the database cannot be reached or was written by a newer taskgate.
    public func migrate() async throws(StoreOpenError) {
        let unknown: String?
        do {
            // Returns the first migration this taskgate does not know, having applied nothing.
            unknown = try await client.withTransaction(logger: logger) { connection -> String? in
                try await connection.query("SELECT pg_advisory_xact_lock(7307147105)", logger: logger)
                try await connection.query(
                    "CREATE TABLE IF NOT EXISTS taskgate_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
                    logger: logger
                )
                var applied: Set<String> = []
                for try await name in try await connection.query("SELECT name FROM taskgate_migrations", logger: logger).decode(String.self) {
                    applied.insert(name)
                }
                if let unknown = applied.subtracting(Self.migrations.map(\.name)).sorted().first { return unknown }
                for migration in Self.migrations where !applied.contains(migration.name) {
                    for statement in migration.sql {
                        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                    try await connection.query("INSERT INTO taskgate_migrations (name) VALUES (\(migration.name))", logger: logger)
                }
                return nil
            }
        } catch {
            throw StoreOpenError(path: locationDescription, reason: Self.describe(error))
        }
        if let unknown {
            throw StoreOpenError(
                path: locationDescription,
                reason: "it was written by a newer taskgate (unknown migration \(unknown)); refusing to touch it",
                isRefusal: true
            )
        }
    }

    var locationDescription: String { "the PostgreSQL store" }

    // MARK: - TaskStore

    public func answer(provider: String, id: String) async throws(GatewayError) -> EncodedAnswer? {
        let row = try await perform("read") { () async throws -> ReadAnswer.Row? in
            for try await row in try await self.client.execute(ReadAnswer(provider: provider, id: id), logger: self.logger) { return row }
            return nil
        }
        guard let (statusText, vendorStatus, body, etag, fetchedAt, linksExpireAt) = row else { return nil }
        guard let status = TaskStatus(rawValue: statusText), let validator = Validator(hex: etag) else {
            logger.error("a stored task has an unknown status", metadata: ["provider": "\(provider)"])
            throw GatewayError(.storeUnavailable, "A stored task could not be read.")
        }
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

    /// The hot path never waits on the network: it serves what memory holds, and a request for a
    /// final answer not in memory takes the async path (`answer`), which keeps it in memory.
    public func finalAnswerNow(provider: String, id: String) -> EncodedAnswer? { nil }

    public func save(_ answer: EncodedAnswer, events: [WebhookEvent]) async throws(GatewayError) {
        let (provider, id, status, isFinal, vendorStatus) = (answer.provider, answer.id, answer.status.rawValue, answer.isFinal, answer.vendorStatus)
        let (body, etag, fetchedAt) = (answer.bytes.gzip, answer.bytes.validator.hex, answer.fetchedAt.timeIntervalSince1970)
        let linksExpireAt = answer.bytes.linksExpireAt?.timeIntervalSince1970
        let change = TaskChangeWatches.key(provider: provider, id: id)
        let (eventIDs, receivers) = (events.map(\.id), events.map(\.webhook))
        let payload = events.first?.payload ?? ByteBuffer()
        try await perform("write") {
            // The answer is saved, the task's lease released and — when another replica waited
            // on it, or the task has just turned final (long polls wait on every replica) — the
            // replicas told, in one statement (the notification goes out at commit).
            let rows = try await self.client.query(
                """
                WITH released AS (DELETE FROM task_lease WHERE provider = \(provider) AND task_id = \(id) RETURNING contended),
                saved AS (
                INSERT INTO task (
                  provider, task_id, status, is_final, vendor_status, body_gzip, etag, fetched_at, first_seen_at, links_expire_at, watched_at
                )
                VALUES (
                  \(provider), \(id), \(status), \(isFinal), \(vendorStatus), \(body), \(etag), \(fetchedAt), \(fetchedAt), \(linksExpireAt),
                  \(fetchedAt)
                )
                ON CONFLICT (provider, task_id) DO UPDATE SET
                  status = excluded.status, is_final = excluded.is_final, vendor_status = excluded.vendor_status,
                  body_gzip = excluded.body_gzip, etag = excluded.etag, fetched_at = excluded.fetched_at,
                  links_expire_at = excluded.links_expire_at, watched_at = excluded.watched_at
                WHERE NOT task.is_final
                RETURNING is_final
                ),
                -- Turned final just now: the receivers' events, in the same transaction.
                events AS (
                  INSERT INTO webhook_event (id, webhook, provider, task_id, created_at, payload, next_attempt_at)
                  SELECT e.id, e.webhook, \(provider), \(id), \(fetchedAt), \(payload), \(fetchedAt)
                  FROM saved, unnest(\(eventIDs)::text[], \(receivers)::text[]) AS e(id, webhook)
                  WHERE saved.is_final
                  ON CONFLICT (id) DO NOTHING
                )
                SELECT pg_notify(\(Self.changeChannel), \(change))
                WHERE EXISTS (SELECT 1 FROM released WHERE contended) OR EXISTS (SELECT 1 FROM saved WHERE is_final)
                """,
                logger: self.logger
            )
            for try await _ in rows {}
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

    public var isShared: Bool { true }

    public func acquireLease(provider: String, id: String, holder: String, until: Date, now: Date) async throws(GatewayError) -> Bool {
        let (expiry, time) = (until.timeIntervalSince1970, now.timeIntervalSince1970)
        return try await perform("write") {
            // Taken when free, expired or already this holder's; otherwise marked contended, so
            // the holder's save (or release) wakes the replicas waiting on it.
            let rows = try await self.client.query(
                """
                INSERT INTO task_lease AS lease (provider, task_id, holder, until) VALUES (\(provider), \(id), \(holder), \(expiry))
                ON CONFLICT (provider, task_id) DO UPDATE SET
                  holder = CASE WHEN lease.until <= \(time) OR lease.holder = excluded.holder THEN excluded.holder ELSE lease.holder END,
                  until = CASE WHEN lease.until <= \(time) OR lease.holder = excluded.holder THEN excluded.until ELSE lease.until END,
                  contended = CASE WHEN lease.until <= \(time) THEN false WHEN lease.holder = excluded.holder THEN lease.contended ELSE true END
                RETURNING holder = \(holder)
                """,
                logger: self.logger
            )
            for try await taken in rows.decode(Bool.self) { return taken }
            return false
        }
    }

    public func releaseLease(provider: String, id: String, holder: String) async {
        let change = TaskChangeWatches.key(provider: provider, id: id)
        _ = try? await perform("write") {
            let rows = try await self.client.query(
                """
                WITH released AS (
                  DELETE FROM task_lease WHERE provider = \(provider) AND task_id = \(id) AND holder = \(holder) RETURNING contended
                )
                SELECT pg_notify(\(Self.changeChannel), \(change)) FROM released WHERE contended
                """,
                logger: self.logger
            )
            for try await _ in rows {}
        }
    }

    public func watchChanges(provider: String, id: String) -> TaskChangeWatch {
        changes.watch(provider: provider, id: id)
    }

    public func reserveVendorCall(
        account: String,
        id: String,
        limit: Int,
        spacing: Double,
        now: Date
    ) async throws(GatewayError) -> VendorCallReservation {
        let time = now.timeIntervalSince1970
        return try await perform("write") {
            // Granted in one statement under the row's lock (the common case); a refusal then reads
            // the row to say why. Two replicas counting a new task's first call meet on the
            // primary key, so one of them is the update.
            let granted = try await self.client.query(
                """
                INSERT INTO vendor_call_budget AS budget (account, task_id, calls, last_call_at)
                SELECT \(account), \(id), 1, \(time) WHERE \(limit) > 0
                ON CONFLICT (account, task_id) DO UPDATE SET calls = budget.calls + 1, last_call_at = excluded.last_call_at
                WHERE NOT budget.spent_by_vendor AND budget.calls < \(limit)
                  AND (budget.calls = 0 OR excluded.last_call_at >= budget.last_call_at + \(spacing))
                RETURNING calls
                """,
                logger: self.logger
            )
            for try await calls in granted.decode(Int.self) { return .granted(calls: calls) }
            let rows = try await self.client.query(
                "SELECT calls, last_call_at, spent_by_vendor FROM vendor_call_budget WHERE account = \(account) AND task_id = \(id)",
                logger: self.logger
            )
            var current: (Int, Double, Bool) = (0, 0, false)
            for try await row in rows.decode((Int, Double, Bool).self) { current = row }
            let (calls, last, spentByVendor) = current
            if spentByVendor { return .spentByVendor(calls: calls) }
            if calls >= limit { return .exhausted(calls: calls) }
            return .notBefore(Date(timeIntervalSince1970: last + spacing))
        }
    }

    func takeRateSlot(account: String, interval: Double, tolerance: Double, now: Date, latest: Date) async throws(GatewayError) -> Date? {
        let (time, limit) = (now.timeIntervalSince1970, latest.timeIntervalSince1970)
        return try await perform("write") {
            // GCRA in one statement under the row's lock: the slot starts when the bucket has room
            // (full_at − interval − tolerance, or now), and is taken only if that is not after `latest`.
            let rows = try await self.client.query(
                """
                INSERT INTO vendor_rate AS rate (account, full_at) VALUES (\(account), \(time) + \(interval))
                ON CONFLICT (account) DO UPDATE SET full_at = GREATEST(rate.full_at, \(time)) + \(interval)
                WHERE GREATEST(rate.full_at, \(time)) - \(tolerance) <= \(limit)
                RETURNING GREATEST(\(time), full_at - \(interval) - \(tolerance))
                """,
                logger: self.logger
            )
            for try await start in rows.decode(Double.self) { return Date(timeIntervalSince1970: start) }
            return nil
        }
    }

    public func markVendorBudgetSpent(account: String, id: String, now: Date) async throws(GatewayError) {
        let time = now.timeIntervalSince1970
        try await perform("write") {
            try await self.client.query(
                """
                INSERT INTO vendor_call_budget (account, task_id, calls, last_call_at, spent_by_vendor)
                VALUES (\(account), \(id), 0, \(time), true)
                ON CONFLICT (account, task_id) DO UPDATE SET spent_by_vendor = true
                """,
                logger: self.logger
            )
        }
    }

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

    public func claimWebhookEvents(webhook: String, now: Date, until: Date, limit: Int) async throws(GatewayError) -> [WebhookEvent] {
        let (time, held) = (now.timeIntervalSince1970, until.timeIntervalSince1970)
        return try await perform("write") {
            // SKIP LOCKED: replicas sending at once take different events.
            let rows = try await self.client.query(
                """
                WITH due AS (
                  SELECT id FROM webhook_event WHERE state = 'pending' AND next_attempt_at <= \(time) AND webhook = \(webhook)
                  ORDER BY created_at, id LIMIT \(limit) FOR UPDATE SKIP LOCKED
                )
                UPDATE webhook_event SET next_attempt_at = \(held) FROM due WHERE webhook_event.id = due.id
                RETURNING webhook_event.id, webhook, payload, attempts, created_at
                """,
                logger: self.logger
            )
            var events: [(WebhookEvent, Double)] = []
            for try await (id, webhook, payload, attempts, created) in rows.decode((String, String, ByteBuffer, Int, Double).self) {
                events.append((WebhookEvent(id: id, webhook: webhook, payload: payload, attempts: attempts), created))
            }
            return events.sorted { ($0.1, $0.0.id) < ($1.1, $1.0.id) }.map(\.0)
        }
    }

    public func finishWebhookEvent(_ event: WebhookEvent, outcome: WebhookOutcome, now: Date) async throws(GatewayError) {
        let (state, next, error): (String, Double, String?) =
            switch outcome {
            case .delivered: ("delivered", now.timeIntervalSince1970, nil)
            case .retry(let at, let error): ("pending", at.timeIntervalSince1970, error)
            case .failed(let error): ("failed", now.timeIntervalSince1970, error)
            }
        let (id, attempts, time) = (event.id, event.attempts + 1, now.timeIntervalSince1970)
        let finished: Double? = state == "pending" ? nil : time
        try await perform("write") {
            try await self.client.query(
                """
                UPDATE webhook_event SET state = \(state), attempts = \(attempts), next_attempt_at = \(next), last_error = \(error),
                  finished_at = \(finished)
                WHERE id = \(id)
                """,
                logger: self.logger
            )
        }
    }

    public func webhookBacklog() async throws(GatewayError) -> [WebhookBacklog] {
        try await perform("read") {
            let rows = try await self.client.query(
                "SELECT webhook, count(*), min(created_at) FROM webhook_event WHERE state = 'pending' GROUP BY webhook ORDER BY webhook",
                logger: self.logger
            )
            var backlog: [WebhookBacklog] = []
            for try await (webhook, pending, oldest) in rows.decode((String, Int, Double?).self) {
                backlog.append(WebhookBacklog(webhook: webhook, pending: pending, oldestCreatedAt: oldest.map(Date.init(timeIntervalSince1970:))))
            }
            return backlog
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

    /// Within 1.5 s, whatever `operationTimeout` is: `/readyz` must answer fast when the
    /// database is gone.
    public func checkReadable() async throws(GatewayError) {
        try await perform("read", within: .milliseconds(1500)) {
            try await self.client.query("SELECT 1 FROM taskgate_migrations LIMIT 1", logger: self.logger)
        }
    }

    public func sharedSecret(named name: String, candidate: [UInt8]) async throws(GatewayError) -> [UInt8] {
        let candidate = ByteBuffer(bytes: candidate)
        return try await perform("write") {
            try await self.client.query(
                "INSERT INTO gateway_secret (name, value) VALUES (\(name), \(candidate)) ON CONFLICT (name) DO NOTHING",
                logger: self.logger
            )
            for try await value in try await self.client.query("SELECT value FROM gateway_secret WHERE name = \(name)", logger: self.logger)
                .decode(ByteBuffer.self)
            {
                return Array(value.readableBytesView)
            }
            return []
        }
    }

    public func keepArtifact(_ artifact: StoredArtifact) async throws(GatewayError) {
        let (sha256, contentType, size, body, gzip) = (
            artifact.sha256, artifact.contentType, artifact.body.readableBytes, artifact.body, artifact.gzipBody
        )
        try await perform("write", within: .seconds(60)) {
            try await self.client.query(
                """
                INSERT INTO artifact (sha256, content_type, size, body, body_gzip) VALUES (\(sha256), \(contentType), \(size), \(body), \(gzip))
                ON CONFLICT (sha256) DO NOTHING
                """,
                logger: self.logger
            )
        }
    }

    public func artifact(sha256: String) async throws(GatewayError) -> StoredArtifact? {
        try await perform("read", within: .seconds(60)) {
            let rows = try await self.client.query(
                "SELECT content_type, body, body_gzip FROM artifact WHERE sha256 = \(sha256)",
                logger: self.logger
            )
            for try await (contentType, body, gzip) in rows.decode((String, ByteBuffer, ByteBuffer?).self) {
                return StoredArtifact(sha256: sha256, contentType: contentType, body: body, gzipBody: gzip)
            }
            return nil
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

    /// Runs a database operation within `operationTimeout` and turns any failure into one logged
    /// `store-unavailable` error.
    @discardableResult
    fileprivate func perform<T: Sendable>(
        _ operation: String,
        within timeout: Duration? = nil,
        _ body: @escaping @Sendable () async throws -> T
    ) async throws(GatewayError) -> T {
        guard case .ready = state.withLock({ $0 }) else {
            throw GatewayError(.storeUnavailable, "The task store is not reachable yet.")
        }
        let started = ContinuousClock.now
        defer { metrics?.storeOperation(operation, duration: ContinuousClock.now - started) }
        do {
            return try await withTimeout(timeout ?? operationTimeout, body)
        } catch {
            logger.error("store \(operation) failed", metadata: ["error": "\(Self.describe(error))"])
            metrics?.storeFailure(operation: operation)
            throw GatewayError(.storeUnavailable, "The task store could not \(operation).")
        }
    }

    /// What went wrong, without the query's bound values (a task body) or the password.
    static func describe(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] { return "\(error.code): \(message)" }
            return "\(error.code)"
        }
        return "\(type(of: error))"
    }
}

extension PostgresTaskStore {
    public func exportTasks(afterSequence: Int64, limit: Int) async throws(GatewayError) -> [StoredTaskRow] {
        try await perform("read") {
            let rows = try await self.client.query(
                """
                SELECT sequence, provider, task_id, status, is_final, vendor_status, body_gzip, etag, fetched_at, first_seen_at,
                  links_expire_at
                FROM task WHERE sequence > \(afterSequence) ORDER BY sequence LIMIT \(limit)
                """,
                logger: self.logger
            )
            var tasks: [StoredTaskRow] = []
            for try await row in rows.decode((Int64, String, String, String, Bool, String?, ByteBuffer, String, Double, Double, Double?).self) {
                tasks.append(
                    StoredTaskRow(
                        sequence: row.0,
                        provider: row.1,
                        taskID: row.2,
                        status: row.3,
                        isFinal: row.4,
                        vendorStatus: row.5,
                        bodyGzip: row.6,
                        etag: row.7,
                        fetchedAt: row.8,
                        firstSeenAt: row.9,
                        linksExpireAt: row.10
                    )
                )
            }
            return tasks
        }
    }

    public func exportBudgets(after: (account: String, taskID: String)?, limit: Int) async throws(GatewayError) -> [StoredBudgetRow] {
        let (account, taskID) = after ?? ("", "")
        let first = after == nil
        return try await perform("read") {
            let rows = try await self.client.query(
                """
                SELECT account, task_id, calls, last_call_at, spent_by_vendor FROM vendor_call_budget
                WHERE \(first) OR (account, task_id) > (\(account), \(taskID)) ORDER BY account, task_id LIMIT \(limit)
                """,
                logger: self.logger
            )
            var budgets: [StoredBudgetRow] = []
            for try await (account, taskID, calls, last, spent) in rows.decode((String, String, Int, Double, Bool).self) {
                budgets.append(StoredBudgetRow(account: account, taskID: taskID, calls: calls, lastCallAt: last, spentByVendor: spent))
            }
            return budgets
        }
    }

    public func importRows(tasks: [StoredTaskRow], budgets: [StoredBudgetRow]) async throws(GatewayError) {
        try await perform("write", within: .seconds(60)) {
            try await self.client.withTransaction(logger: self.logger) { connection in
                for task in tasks {
                    try await connection.query(
                        """
                        INSERT INTO task (provider, task_id, status, is_final, vendor_status, body_gzip, etag, fetched_at, first_seen_at,
                          links_expire_at, watched_at)
                        VALUES (\(task.provider), \(task.taskID), \(task.status), \(task.isFinal), \(task.vendorStatus), \(task.bodyGzip),
                                \(task.etag), \(task.fetchedAt), \(task.firstSeenAt), \(task.linksExpireAt), \(task.fetchedAt))
                        """,
                        logger: self.logger
                    )
                }
                for budget in budgets {
                    try await connection.query(
                        """
                        INSERT INTO vendor_call_budget (account, task_id, calls, last_call_at, spent_by_vendor)
                        VALUES (\(budget.account), \(budget.taskID), \(budget.calls), \(budget.lastCallAt), \(budget.spentByVendor))
                        """,
                        logger: self.logger
                    )
                }
            }
        }
    }

    public func exportArtifacts(after: String?, limit: Int) async throws(GatewayError) -> [StoredArtifact] {
        let after = after ?? ""
        return try await perform("read", within: .seconds(60)) {
            let rows = try await self.client.query(
                "SELECT sha256, content_type, body, body_gzip FROM artifact WHERE sha256 > \(after) ORDER BY sha256 LIMIT \(limit)",
                logger: self.logger
            )
            var artifacts: [StoredArtifact] = []
            for try await (sha256, contentType, body, gzip) in rows.decode((String, String, ByteBuffer, ByteBuffer?).self) {
                artifacts.append(StoredArtifact(sha256: sha256, contentType: contentType, body: body, gzipBody: gzip))
            }
            return artifacts
        }
    }

    public func exportWebhookEvents(after: String?, limit: Int) async throws(GatewayError) -> [StoredWebhookEventRow] {
        let after = after ?? ""
        return try await perform("read", within: .seconds(60)) {
            let rows = try await self.client.query(
                """
                SELECT id, webhook, provider, task_id, created_at, payload, state, attempts, next_attempt_at, last_error, finished_at
                FROM webhook_event WHERE id > \(after) ORDER BY id LIMIT \(limit)
                """,
                logger: self.logger
            )
            var events: [StoredWebhookEventRow] = []
            for try await row in rows.decode((String, String, String, String, Double, ByteBuffer, String, Int, Double, String?, Double?).self) {
                events.append(
                    StoredWebhookEventRow(
                        id: row.0,
                        webhook: row.1,
                        provider: row.2,
                        taskID: row.3,
                        createdAt: row.4,
                        payload: row.5,
                        state: row.6,
                        attempts: row.7,
                        nextAttemptAt: row.8,
                        lastError: row.9,
                        finishedAt: row.10
                    )
                )
            }
            return events
        }
    }

    public func importWebhookEvents(_ events: [StoredWebhookEventRow]) async throws(GatewayError) {
        try await perform("write", within: .seconds(60)) {
            try await self.client.withTransaction(logger: self.logger) { connection in
                for event in events {
                    try await connection.query(
                        """
                        INSERT INTO webhook_event (id, webhook, provider, task_id, created_at, payload, state, attempts, next_attempt_at,
                          last_error, finished_at)
                        VALUES (\(event.id), \(event.webhook), \(event.provider), \(event.taskID), \(event.createdAt), \(event.payload),
                                \(event.state), \(event.attempts), \(event.nextAttemptAt), \(event.lastError), \(event.finishedAt))
                        """,
                        logger: self.logger
                    )
                }
            }
        }
    }

    public func webhookEventCount() async throws(GatewayError) -> Int {
        try await perform("read") {
            let rows = try await self.client.query("SELECT count(*) FROM webhook_event", logger: self.logger)
            for try await count in rows.decode(Int.self) { return count }
            return 0
        }
    }

    public func rowCounts() async throws(GatewayError) -> (tasks: Int, budgets: Int) {
        try await perform("read") {
            let rows = try await self.client.query(
                "SELECT (SELECT count(*) FROM task), (SELECT count(*) FROM vendor_call_budget)",
                logger: self.logger
            )
            for try await counts in rows.decode((Int, Int).self) { return counts }
            return (0, 0)
        }
    }
}

/// The read of every stored answer: the most frequent statement, prepared once per connection.
struct ReadAnswer: PostgresPreparedStatement {
    static let sql = "SELECT status, vendor_status, body_gzip, etag, fetched_at, links_expire_at FROM task WHERE provider = $1 AND task_id = $2"
    typealias Row = (String, String?, ByteBuffer, String, Double, Double?)

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
