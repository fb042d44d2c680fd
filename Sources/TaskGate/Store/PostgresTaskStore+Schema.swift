import Foundation
import Logging
import NIOCore
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// The database's schema, one migration per change, applied under an advisory lock; a database
/// written by a newer taskgate is refused.
extension PostgresTaskStore {
    /// Migrates as soon as the database answers, retrying with backoff while it does not.
    func prepareSchema() async throws(StoreOpenError) {
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
        (
            // The W3C trace context of the first request that saw the task: background work on
            // the task links its spans to it.
            "v14: task.trace_parent",
            ["ALTER TABLE task ADD COLUMN trace_parent text"]
        ),
        (
            // The event feed: one event per task turned final, kept whatever the webhooks, at a
            // position taken from the `event_feed` counter in the writing transaction (its row
            // lock orders the commits, which a bigserial would not); the outbox becomes one
            // delivery per event and receiver. Outbox rows move over: one event per task (its id
            // now hashes provider and task only), one delivery per row.
            "v15: task_event",
            [
                """
                CREATE TABLE event_feed (
                    singleton integer PRIMARY KEY CHECK (singleton = 1), last_sequence bigint NOT NULL, trimmed_through bigint NOT NULL
                )
                """,
                """
                CREATE TABLE task_event (
                    sequence bigint PRIMARY KEY, id text NOT NULL UNIQUE, type text NOT NULL, provider text NOT NULL,
                    task_id text NOT NULL, created_at double precision NOT NULL, payload bytea NOT NULL
                )
                """,
                "CREATE INDEX task_event_by_provider ON task_event (provider, sequence)",
                """
                CREATE TABLE webhook_delivery (
                    webhook text NOT NULL, event_sequence bigint NOT NULL, state text NOT NULL DEFAULT 'pending',
                    attempts integer NOT NULL DEFAULT 0, attempt_log jsonb NOT NULL DEFAULT '[]', next_attempt_at double precision NOT NULL,
                    queued_at double precision NOT NULL, PRIMARY KEY (webhook, event_sequence)
                )
                """,
                "CREATE INDEX webhook_delivery_due ON webhook_delivery (webhook, next_attempt_at) WHERE state = 'pending'",
                "CREATE INDEX webhook_delivery_by_event ON webhook_delivery (event_sequence)",
                """
                INSERT INTO task_event (sequence, id, type, provider, task_id, created_at, payload)
                SELECT row_number() OVER (ORDER BY min(created_at), provider, task_id),
                  'msg_' || left(encode(sha256(convert_to(provider || chr(10) || task_id, 'UTF8')), 'hex'), 32), 'task.final',
                  provider, task_id, min(created_at), (array_agg(payload))[1]
                FROM webhook_event GROUP BY provider, task_id
                """,
                """
                INSERT INTO webhook_delivery (webhook, event_sequence, state, attempts, attempt_log, next_attempt_at, queued_at)
                SELECT w.webhook, e.sequence, w.state, w.attempts,
                  CASE WHEN w.last_error IS NULL THEN '[]'::jsonb ELSE jsonb_build_array(jsonb_build_object(
                    'at', to_char(to_timestamp(floor(coalesce(w.finished_at, w.created_at))) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                    'error', w.last_error
                  )) END,
                  w.next_attempt_at, w.created_at
                FROM webhook_event w JOIN task_event e ON e.provider = w.provider AND e.task_id = w.task_id
                """,
                "INSERT INTO event_feed (singleton, last_sequence, trimmed_through) SELECT 1, coalesce(max(sequence), 0), 0 FROM task_event",
                "DROP TABLE webhook_event",
            ]
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
}
