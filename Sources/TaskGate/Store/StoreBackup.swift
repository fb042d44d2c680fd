import Foundation
import GRDB

/// A consistent copy of a store that `taskgate serve` may be writing to at that moment.
///
/// Copying the file with `cp` can tear a page mid-write and leaves the WAL behind; SQLite's
/// online backup reads one snapshot (in WAL mode the server's writes go on meanwhile). The copy
/// is written beside the destination under a temporary name, checked, and only then renamed,
/// so a file with the destination's name is always a whole, checked store.
public enum StoreBackup {
    public struct Summary: Sendable {
        /// Tasks in the copy.
        public var tasks: Int
        /// Size of the copy in bytes.
        public var bytes: Int
    }

    /// Copies the store at `source` to `destination`, which must not exist yet.
    public static func copy(store source: String, to destination: String) throws(StoreBackupError) -> Summary {
        let files = FileManager.default
        guard files.fileExists(atPath: source) else {
            throw StoreBackupError("there is no store at \(source)")
        }
        guard !files.fileExists(atPath: destination) else {
            throw StoreBackupError("\(destination) exists already; taskgate does not overwrite a backup")
        }
        let directory = URL(fileURLWithPath: destination).deletingLastPathComponent().path
        guard files.isWritableFile(atPath: directory) else {
            throw StoreBackupError("cannot write into \(directory) (missing, or not writable by this user)")
        }
        let partial = destination + ".partial"
        func removePartial() {
            for file in [partial, partial + "-wal", partial + "-shm", partial + "-journal"] { try? files.removeItem(atPath: file) }
        }
        removePartial()
        do {
            var configuration = Configuration()
            configuration.readonly = true
            configuration.busyMode = .timeout(5)
            let store = try DatabaseQueue(path: source, configuration: configuration)
            defer { try? store.close() }
            guard try store.read({ try $0.tableExists("task") }) else {
                throw StoreBackupError("\(source) is not a taskgate store (it has no task table)")
            }
            do {
                try SQLiteTaskStore.checkIsTaskgateStore(path: source)
            } catch {
                throw StoreBackupError("\(source) is not a taskgate store: \(error.reason)")
            }
            let copy = try DatabaseQueue(path: partial)
            try store.backup(to: copy)
            let (check, tasks) = try copy.read { db in
                (try String.fetchOne(db, sql: "PRAGMA integrity_check") ?? "", try Int.fetchOne(db, sql: "SELECT count(*) FROM task") ?? 0)
            }
            try copy.close()
            guard check == "ok" else { throw StoreBackupError("the copy failed its integrity check: \(check)") }
            try files.moveItem(atPath: partial, toPath: destination)
            let bytes = (try? files.attributesOfItem(atPath: destination)[.size] as? Int) ?? 0
            return Summary(tasks: tasks, bytes: bytes)
        } catch {
            removePartial()
            if let error = error as? StoreBackupError { throw error }
            throw StoreBackupError("the copy from \(source) failed: \(SQLiteTaskStore.describe(error))")
        }
    }
}

/// Why a backup was not made; nothing is left under the destination's name.
public struct StoreBackupError: Error, CustomStringConvertible {
    public var description: String

    init(_ description: String) { self.description = description }
}
