import Crypto
import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NIOPosix
import TaskGate
import TaskGateSimulators
import Testing

@testable import TaskGate

@Suite(.timeLimit(.minutes(3))) struct SQLiteTaskStoreTests {
    static let xCache = HTTPField.Name("X-Cache")!

    /// Another program's SQLite file is never adopted: `serve` (the store), `backup` and
    /// `migrate-store` refuse it naming the file, and not one byte of it changes.
    @Test(arguments: [
        "CREATE TABLE other (x)",
        "CREATE TABLE task (id INTEGER PRIMARY KEY, title TEXT)",
        "CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY); INSERT INTO grdb_migrations VALUES ('v1: users'); CREATE TABLE users (id)",
    ])
    func anotherProgramsDatabaseIsRefusedUntouched(schema: String) async throws {
        let path = temporaryStorePath()
        let queue = try DatabaseQueue(path: path)
        try await queue.write { try $0.execute(sql: schema) }
        try queue.close()
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        do {
            _ = try SQLiteTaskStore(path: path, logger: quietLogger)
            Issue.record("opened")
        } catch {
            #expect(error.path == path)
            #expect(error.reason.contains("no taskgate schema"), "\(error)")
        }
        let backup = #expect(throws: StoreBackupError.self) { try StoreBackup.copy(store: path, to: path + ".backup") }
        #expect(backup?.description.contains("not a taskgate store") == true)
        await #expect(throws: StoreOpenError.self) {
            try await StoreLocation.sqlite(path: path).withStore(logger: quietLogger, mustExist: true) { _ in }
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
        #expect(!FileManager.default.fileExists(atPath: path + "-wal"))
        // A store taskgate made opens again, as does an empty file.
        let ours = temporaryStorePath()
        try SQLiteTaskStore(path: ours, logger: quietLogger).close()
        try SQLiteTaskStore(path: ours, logger: quietLogger).close()
        let empty = temporaryStorePath()
        FileManager.default.createFile(atPath: empty, contents: Data())
        try SQLiteTaskStore(path: empty, logger: quietLogger).close()
    }

    @Test func finalResultIsServedFromStoreAfterRestart() async throws {
        let store = temporaryStorePath()
        try await withSimulator(CapMonsterSimulator(clientKey: testClientKey)) { sim in
            addTask(sim.state, id: "70", .state(.succeeded, result: #"{"text":"kept"}"#))
            let configuration = capMonsterConfiguration(endpoint: sim.endpoint, store: store)
            let firstBody = try await buildApplication(configuration, logger: quietLogger).test(.router) { client in
                let response = try await client.get("/tasks/capmonster/70", [.acceptEncoding: "gzip"])
                #expect(response.headers[Self.xCache] == "MISS")
                return response.body
            }
            // A new application on the same file: a new process, as far as the store knows.
            try await buildApplication(configuration, logger: quietLogger).test(.router) { client in
                let response = try await client.get("/tasks/capmonster/70", [.acceptEncoding: "gzip"])
                #expect(response.status == .ok)
                #expect(response.headers[Self.xCache] == "HIT")
                #expect(response.body == firstBody)
                #expect(try response.json()["result"] as? [String: String] == ["text": "kept"])
            }
            #expect(sim.state.calls(for: "70")["getTaskResult"] == 1)
        }
        // The row is really in the file, gzipped, with its ETag.
        let queue = try DatabaseQueue(path: store)
        let row = try queue.read { db in
            try Row.fetchOne(
                db,
                sql: "SELECT status, is_final, etag, length(body_gzip) AS size FROM task WHERE provider = 'capmonster' AND task_id = '70'"
            )
        }
        let stored = try #require(row)
        #expect(stored["status"] as String == "succeeded")
        #expect(stored["is_final"] as Bool == true)
        #expect((stored["etag"] as String).count == 32)
        #expect((stored["size"] as Int) > 20)
    }

    @Test func theFinalAnswerIsCommittedBeforeItIsSent() async throws {
        let store = temporaryStorePath()
        try await withSimulator(CapMonsterSimulator(clientKey: testClientKey)) { sim in
            addTask(sim.state, id: "71", .failed(code: "ERROR_CAPTCHA_UNSOLVABLE"))
            let configuration = capMonsterConfiguration(endpoint: sim.endpoint, store: store)
            try await buildApplication(configuration, logger: quietLogger).test(.router) { client in
                _ = try await client.get("/tasks/capmonster/71")
                // Read by another connection while the app still runs.
                let count = try await DatabaseQueue(path: store).read { db in
                    try Int.fetchOne(db, sql: "SELECT count(*) FROM task WHERE task_id = '71' AND is_final = 1")
                }
                #expect(count == 1)
            }
        }
    }

    @Test func aCorruptStoreStopsStartupWithAClearMessage() async throws {
        let path = temporaryStorePath()
        try Data(repeating: 0x42, count: 8192).write(to: URL(fileURLWithPath: path))
        let configuration = capMonsterConfiguration(endpoint: "http://127.0.0.1:9", store: path)
        do {
            _ = try buildApplication(configuration, logger: quietLogger)
            Issue.record("a corrupt store must not open")
        } catch let error as StoreOpenError {
            #expect(error.description.contains(path))
            #expect(error.description.contains("not a database"))
        }
    }

    @Test func anUnwritableStoreLocationStopsStartup() async throws {
        let path = "/proc/taskgate-cannot-live-here/taskgate.sqlite"
        let configuration = capMonsterConfiguration(endpoint: "http://127.0.0.1:9", store: path)
        #expect(throws: StoreOpenError.self) { _ = try buildApplication(configuration, logger: quietLogger) }
    }

    @Test func aStoreFromANewerTaskgateIsRefused() async throws {
        let path = temporaryStorePath()
        let queue = try DatabaseQueue(path: path)
        try await queue.write { db in
            try db.execute(sql: "CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY)")
            try db.execute(sql: "INSERT INTO grdb_migrations VALUES ('v1: task'), ('v99: from the future')")
        }
        try queue.close()
        let configuration = capMonsterConfiguration(endpoint: "http://127.0.0.1:9", store: path)
        #expect(throws: StoreOpenError.self) { _ = try buildApplication(configuration, logger: quietLogger) }
    }

    /// The hot path's read (its own connection per event loop) answers what the store holds: a
    /// final answer field for field as the router reads it, nothing for a missing or not-final
    /// task or an unreadable row, answers written after its first read, and nothing once the
    /// store is closed.
    @Test func theHotPathsReadIsTheStoresOwnAnswer() async throws {
        let store = try SQLiteTaskStore(path: temporaryStorePath(), logger: quietLogger)
        /// The hot read on one of the event loops (each in turn), as the hot path makes it.
        func hotRead(_ id: String) async throws -> EncodedAnswer? {
            try await MultiThreadedEventLoopGroup.singleton.next().submit { store.finalAnswerNow(provider: "p", id: id) }.get()
        }
        #expect(try await hotRead("1") == nil)
        try await store.save(try TaskStoreContractTests.answer("1", .running))
        #expect(try await hotRead("1") == nil)
        let link = TaskStoreContractTests.link(expiring: 1_900_000_000)
        try await store.save(try TaskStoreContractTests.answer("1", .succeeded, text: "done", link: link))
        for _ in 0..<4 {
            let hot = try #require(try await hotRead("1"))
            let routed = try #require(try await store.answer(provider: "p", id: "1"))
            #expect(hot.bytes.gzip == routed.bytes.gzip)
            #expect(hot.bytes.validator == routed.bytes.validator)
            #expect(hot.status == .succeeded)
            #expect(hot.vendorStatus == routed.vendorStatus)
            #expect(hot.fetchedAt == routed.fetchedAt)
            #expect(hot.bytes.linksExpireAt == Date(timeIntervalSince1970: 1_900_000_000))
            #expect(try TaskStoreContractTests.body(hot)?.contains("done") == true)
        }
        try await store.save(try TaskStoreContractTests.answer("2", .failed))
        #expect(try await hotRead("2")?.status == .failed)
        try await store.pool.write { db in try db.execute(sql: "UPDATE task SET etag = 'not hex' WHERE task_id = '2'") }
        #expect(try await hotRead("2") == nil)
        // The router's read of it is an error, never "no such task".
        await #expect(throws: GatewayError.self) { try await store.answer(provider: "p", id: "2") }
        try store.close()
        #expect(try await hotRead("1") == nil)
    }

    /// `taskgate_store_rows` reads a count kept beside the table (never a count(*) of it); a store
    /// from before that count is counted once when it upgrades.
    @Test func theRowCountIsKeptAndCountedOnceForAnOlderStore() async throws {
        let path = temporaryStorePath()
        let seeded = try SQLiteTaskStore(path: path, logger: quietLogger)
        try await seeded.save(batch: try (1...3).map { try TaskStoreContractTests.answer("\($0)", .succeeded) })
        try seeded.close()
        try await withStore(at: path) { store in
            try await store.save(try TaskStoreContractTests.answer("4", .running))
            try await store.save(try TaskStoreContractTests.answer("4", .succeeded))
            #expect(try await store.statistics().rows == 4)
        }
        // As a store written before the count was kept.
        let queue = try DatabaseQueue(path: path)
        try await queue.write { db in
            try db.execute(sql: "DROP TRIGGER task_counted; DROP TRIGGER task_uncounted; DROP TABLE task_count")
            try db.execute(sql: "DELETE FROM grdb_migrations WHERE identifier = 'v8: task_count'")
        }
        try queue.close()
        try await withStore(at: path) { store in
            #expect(try await store.statistics().rows == 4)
            try await store.save(try TaskStoreContractTests.answer("5", .succeeded))
            #expect(try await store.statistics().rows == 5)
        }
    }

    /// A listing page is read from an index in cursor order, never by sorting the provider's
    /// rows: the millionth page costs what the first does.
    @Test(arguments: [false, true])
    func listingPagesReadAnIndexInCursorOrder(byStatus: Bool) async throws {
        let path = temporaryStorePath()
        try SQLiteTaskStore(path: path, logger: quietLogger).close()
        let queue = try DatabaseQueue(path: path)
        defer { try? queue.close() }
        let plan = try await queue.read { db in
            let arguments: StatementArguments = byStatus ? ["p", 0, "running", 100] : ["p", 0, 100]
            return try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + SQLiteTaskStore.listingSQL(byStatus: byStatus), arguments: arguments)
                .map { $0["detail"] as String }
        }
        #expect(!plan.joined().contains("TEMP B-TREE"), "\(plan)")
        #expect(plan.contains { $0.contains(byStatus ? "task_by_status" : "task_by_provider") && $0.contains("sequence>?") }, "\(plan)")
    }
}
