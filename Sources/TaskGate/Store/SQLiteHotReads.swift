import Foundation
import GRDBSQLite
import NIOCore
import NIOPosix
import Synchronization

/// The hot path's read of a stored answer: one statement on a read-only SQLite connection of
/// the calling thread's own (each event loop gets one, as each nginx worker reads its cache
/// files itself). A read through GRDB's pool waits for a pooled connection and its dispatch
/// queue and wraps the one SELECT in a transaction: several times the lookup itself, and a
/// lock taken in turns by the event loops.
///
/// A lone SELECT is its own read transaction in SQLite, so it sees a consistent store; in WAL
/// mode it never waits for the writer.
final class SQLiteHotReads: Sendable {
    private let path: String
    private let connections = ThreadSpecificVariable<Connection>()
    /// Every connection opened, to close them with the store; nil once closed.
    private let opened = Mutex<[Connection]?>([])

    init(path: String) {
        self.path = path
    }

    /// The stored answer of a task; nil when it cannot be read here (a busy or closed store): the
    /// hot path then leaves the request to the router, whose read through GRDB reports it.
    func answer(provider: String, id: String) -> StoredRead? {
        guard let connection = connection() else { return nil }
        return connection.answer(provider: provider, id: id)
    }

    /// Closes every connection; later reads return nil.
    func close() {
        let all = opened.withLock { opened in
            defer { opened = nil }
            return opened ?? []
        }
        for connection in all { connection.close() }
    }

    private func connection() -> Connection? {
        if let connection = connections.currentValue { return connection }
        guard let connection = Connection(path: path) else { return nil }
        let kept = opened.withLock { opened -> Bool in
            guard opened != nil else { return false }
            opened!.append(connection)
            return true
        }
        guard kept else {
            connection.close()
            return nil
        }
        connections.currentValue = connection
        return connection
    }

    /// One read-only connection and its prepared statement. Used by one thread; its lock is
    /// only ever contended by ``close()``.
    final class Connection: Sendable {
        private struct Handles: @unchecked Sendable {
            var database: OpaquePointer
            var statement: OpaquePointer
        }

        private let handles: Mutex<Handles?>

        init?(path: String) {
            var database: OpaquePointer?
            let flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX
            guard sqlite3_open_v2(path, &database, flags, nil) == SQLITE_OK, let database else {
                sqlite3_close_v2(database)
                return nil
            }
            var statement: OpaquePointer?
            let query = SQLiteTaskStore.answerQuery
            guard sqlite3_exec(database, SQLiteTaskStore.pageCacheSize, nil, nil, nil) == SQLITE_OK,
                sqlite3_prepare_v3(database, query, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil) == SQLITE_OK, let statement
            else {
                sqlite3_close_v2(database)
                return nil
            }
            handles = Mutex(Handles(database: database, statement: statement))
        }

        deinit { close() }

        func close() {
            handles.withLock { handles in
                guard let open = handles else { return }
                sqlite3_finalize(open.statement)
                sqlite3_close_v2(open.database)
                handles = nil
            }
        }

        func answer(provider: String, id: String) -> StoredRead? {
            handles.withLock { handles -> StoredRead? in
                guard let statement = handles?.statement else { return nil }
                // Both parameters are bound again by the next read.
                defer { sqlite3_reset(statement) }
                guard Self.bind(provider, at: 1, in: statement), Self.bind(id, at: 2, in: statement) else { return nil }
                switch sqlite3_step(statement) {
                case SQLITE_DONE: return .noRow
                case SQLITE_ROW: break
                default: return nil
                }
                guard let status = Self.text(0, statement), let etag = Self.text(3, statement),
                    sqlite3_column_type(statement, 2) == SQLITE_BLOB
                else { return .unreadable }
                let count = Int(sqlite3_column_bytes(statement, 2))
                var body = ByteBufferAllocator().buffer(capacity: count)
                if count > 0, let bytes = sqlite3_column_blob(statement, 2) {
                    body.writeBytes(UnsafeRawBufferPointer(start: bytes, count: count))
                }
                let columns = StoredAnswerColumns(
                    status: status,
                    vendorStatus: Self.text(1, statement),
                    body: body,
                    etag: etag,
                    fetchedAt: sqlite3_column_double(statement, 4),
                    linksExpireAt: sqlite3_column_type(statement, 5) == SQLITE_NULL ? nil : sqlite3_column_double(statement, 5)
                )
                return columns.read(provider: provider, id: id)
            }
        }

        /// Binds a copy of `text`: the statement outlives the string's storage.
        private static func bind(_ text: String, at index: Int32, in statement: OpaquePointer) -> Bool {
            let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
            return sqlite3_bind_text(statement, index, text, -1, transient) == SQLITE_OK
        }

        private static func text(_ column: Int32, _ statement: OpaquePointer) -> String? {
            guard let text = sqlite3_column_text(statement, column) else { return nil }
            return String(cString: text)
        }
    }
}
