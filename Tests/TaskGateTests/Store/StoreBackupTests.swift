import Foundation
import GRDB
import TaskGate
import Testing

/// `taskgate backup`: a consistent copy of a store in use, never a partial or overwritten file.
@Suite(.timeLimit(.minutes(2))) struct StoreBackupTests {
    static func finalAnswers(_ ids: ClosedRange<Int>) throws -> [EncodedAnswer] {
        try ids.map { id in
            try EncodedAnswer(
                record: TaskRecord(
                    provider: "capmonster",
                    kind: "capmonster",
                    id: String(id),
                    status: .succeeded,
                    vendorStatus: "ready",
                    result: JSONFragment(parsing: Array(#"{"text":"answer \#(id)"}"#.utf8)),
                    fetchedAt: Date()
                )
            )
        }
    }

    @Test func aCopyTakenWhileTheStoreIsWrittenHoldsEveryAnswerCommittedBeforeIt() async throws {
        let source = temporaryStorePath()
        let answers = try Self.finalAnswers(1...400)
        let store = try SQLiteTaskStore(path: source, logger: quietLogger)
        for answer in answers[0..<200] { try await store.save(answer) }
        // The server goes on writing during the copy.
        let writer = Task { for answer in answers[200...] { try await store.save(answer) } }
        let destination = source + ".backup"
        let summary = try StoreBackup.copy(store: source, to: destination)
        try await writer.value
        try store.close()

        #expect(summary.tasks >= 200 && summary.tasks <= 400)
        #expect(summary.bytes > 0)
        #expect(!FileManager.default.fileExists(atPath: destination + ".partial"))
        // The copy opens as a store and gives back exactly what was saved.
        let copy = try SQLiteTaskStore(path: destination, logger: quietLogger)
        #expect(try await copy.statistics().rows == summary.tasks)
        for answer in [answers[0], answers[99], answers[199]] {
            let copied = try #require(try await copy.answer(provider: "capmonster", id: answer.id))
            #expect(copied.bytes.gzip == answer.bytes.gzip)
            #expect(copied.bytes.validator == answer.bytes.validator)
        }
        try copy.close()
    }

    @Test func aBackupNeverOverwritesAndNeverLeavesAPartialFile() async throws {
        let source = temporaryStorePath()
        let store = try SQLiteTaskStore(path: source, logger: quietLogger)
        try await store.save(Self.finalAnswers(1...1)[0])
        try store.close()

        // A closed store (no WAL beside it) is copied too.
        let first = source + ".first"
        #expect(try StoreBackup.copy(store: source, to: first).tasks == 1)

        // An existing file is left as it is.
        let existing = source + ".existing"
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: existing))
        let refused = #expect(throws: StoreBackupError.self) { try StoreBackup.copy(store: source, to: existing) }
        #expect(refused?.description.contains("exists already") == true)
        #expect(try Data(contentsOf: URL(fileURLWithPath: existing)) == Data("keep me".utf8))

        // A destination directory that is not there.
        let nowhere = #expect(throws: StoreBackupError.self) { try StoreBackup.copy(store: source, to: source + ".missing/backup.sqlite") }
        #expect(nowhere?.description.contains("cannot write into") == true)

        // No store, not a taskgate store, a corrupt file: a clear error and no file.
        let directory = (source as NSString).deletingLastPathComponent
        let foreign = directory + "/foreign.sqlite"
        let queue = try DatabaseQueue(path: foreign)
        try await queue.write { try $0.execute(sql: "CREATE TABLE other (x)") }
        try queue.close()
        let corrupt = directory + "/corrupt.sqlite"
        try Data(repeating: 0x42, count: 8192).write(to: URL(fileURLWithPath: corrupt))
        let cases = [(directory + "/missing.sqlite", "there is no store"), (foreign, "not a taskgate store"), (corrupt, "not a database")]
        for (path, reason) in cases {
            let destination = path + ".backup"
            let error = #expect(throws: StoreBackupError.self) { try StoreBackup.copy(store: path, to: destination) }
            #expect(error?.description.contains(reason) == true, "\(path): \(String(describing: error))")
            #expect(!FileManager.default.fileExists(atPath: destination))
            #expect(!FileManager.default.fileExists(atPath: destination + ".partial"))
        }
    }
}
