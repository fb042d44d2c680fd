import Crypto
import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import TaskGate
import TaskGateSimulators
import Testing

@testable import TaskGate

@Suite(.timeLimit(.minutes(3))) struct SQLiteTaskStoreTests {
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
}
