import Foundation
import NIOCore

/// What one read of a task's row found.
enum StoredRead: Sendable {
    case answer(EncodedAnswer)
    case noRow
    /// The row is there and does not make an answer (an unknown status, an ETag that is not
    /// hex): an error to report, never "no such task".
    case unreadable
}

/// A task row's answer columns as every backend reads them (SQLite through GRDB, SQLite on the
/// hot path, PostgreSQL), and the one mapping from them to an answer.
struct StoredAnswerColumns {
    var status: String
    var vendorStatus: String?
    var body: ByteBuffer
    var etag: String
    var fetchedAt: Double
    var linksExpireAt: Double?
    var traceParent: String? = nil

    func read(provider: String, id: String) -> StoredRead {
        guard let status = TaskStatus(rawValue: status), let validator = Validator(hex: etag) else { return .unreadable }
        var answer = EncodedAnswer(
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
        answer.traceParent = traceParent
        return .answer(answer)
    }
}
