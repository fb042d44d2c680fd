import Foundation
import GRDB
import Logging
import NIOCore
import Synchronization

/// The store's schema, one migration per change; a store from a newer taskgate is refused.
extension SQLiteTaskStore {
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
        // The W3C trace context of the first request that saw the task: background work on the
        // task links its spans to it.
        migrator.registerMigration("v11: task.trace_parent") { db in
            try db.alter(table: "task") { table in table.add(column: "trace_parent", .text) }
        }
        // The event feed: one event per task turned final, kept whatever the webhooks, at a
        // position taken from a counter in the writing transaction (commit order); the webhook
        // outbox becomes one delivery per event and receiver. Outbox rows move over: one event
        // per task (its id now hashes provider and task only), one delivery per row.
        migrator.registerMigration("v12: task_event") { db in
            db.add(function: Self.eventIDFunction)
            try db.execute(
                sql: """
                    CREATE TABLE event_feed (
                      singleton INTEGER PRIMARY KEY CHECK (singleton = 1), last_sequence INTEGER NOT NULL, trimmed_through INTEGER NOT NULL
                    );
                    CREATE TABLE task_event (
                      sequence INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, type TEXT NOT NULL, provider TEXT NOT NULL,
                      task_id TEXT NOT NULL, created_at REAL NOT NULL, payload BLOB NOT NULL
                    );
                    CREATE INDEX task_event_by_provider ON task_event (provider, sequence);
                    CREATE TABLE webhook_delivery (
                      webhook TEXT NOT NULL, event_sequence INTEGER NOT NULL, state TEXT NOT NULL DEFAULT 'pending',
                      attempts INTEGER NOT NULL DEFAULT 0, attempt_log TEXT NOT NULL DEFAULT '[]', next_attempt_at REAL NOT NULL,
                      queued_at REAL NOT NULL, PRIMARY KEY (webhook, event_sequence)
                    ) WITHOUT ROWID;
                    CREATE INDEX webhook_delivery_due ON webhook_delivery (webhook, next_attempt_at) WHERE state = 'pending';
                    CREATE INDEX webhook_delivery_by_event ON webhook_delivery (event_sequence);
                    INSERT INTO task_event (sequence, id, type, provider, task_id, created_at, payload)
                    SELECT row_number() OVER (ORDER BY min(created_at), provider, task_id), taskgate_event_id(provider, task_id), 'task.final',
                      provider, task_id, min(created_at), payload
                    FROM webhook_event GROUP BY provider, task_id;
                    INSERT INTO webhook_delivery (webhook, event_sequence, state, attempts, attempt_log, next_attempt_at, queued_at)
                    SELECT w.webhook, e.sequence, w.state, w.attempts,
                      CASE WHEN w.last_error IS NULL THEN '[]' ELSE json_array(json_object(
                        'at', strftime('%Y-%m-%dT%H:%M:%SZ', CAST(coalesce(w.finished_at, w.created_at) AS INTEGER), 'unixepoch'),
                        'error', w.last_error
                      )) END,
                      w.next_attempt_at, w.created_at
                    FROM webhook_event w JOIN task_event e ON e.id = taskgate_event_id(w.provider, w.task_id);
                    INSERT INTO event_feed (singleton, last_sequence, trimmed_through) SELECT 1, coalesce(max(sequence), 0), 0 FROM task_event;
                    DROP TABLE webhook_event;
                    """
            )
        }
        return migrator
    }

    /// `taskgate_event_id(provider, task_id)`: `TaskEvent.id` in SQL, for the v12 migration.
    static let eventIDFunction = DatabaseFunction("taskgate_event_id", argumentCount: 2, pure: true) { values in
        guard let provider = String.fromDatabaseValue(values[0]), let task = String.fromDatabaseValue(values[1]) else { return nil }
        return TaskEvent.id(provider: provider, taskID: task)
    }
}
