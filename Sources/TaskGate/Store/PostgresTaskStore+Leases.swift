import Foundation
import Logging
import NIOCore
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// `ReplicaLeases`: one vendor call per task across replicas, and `NOTIFY` to wake the others.
extension PostgresTaskStore {
    /// Keeps one connection listening for other replicas' saves and lease releases, and wakes
    /// this process's watches on them. The connection is one of the pool's (`store_pool`).
    func listenForChanges() async {
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

    public func watchChanges(provider: String, id: String, with watch: TaskChangeWatch) {
        changes.add(watch, provider: provider, id: id)
    }
}
