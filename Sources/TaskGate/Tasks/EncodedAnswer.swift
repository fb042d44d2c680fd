import CompressNIO
import Foundation
import NIOCore

/// A task answer ready to send — its bytes — and what the store and the cache need to know.
///
/// Built once per vendor answer; a final one is stored as is and sent as stored.
public struct EncodedAnswer: Sendable {
    public var provider: String
    public var id: String
    public var vendorStatus: String?
    public var fetchedAt: Date
    /// What is sent: the gzipped body (as stored), the JSON when at hand, their validator.
    public var bytes: AnswerBytes
    /// The `traceparent` of the first request that saw the task (kept by the store once set):
    /// what spans of background work on the task link to.
    public var traceParent: String?

    public var status: TaskStatus { bytes.status }
    public var isFinal: Bool { status.isFinal }

    public init(
        provider: String,
        id: String,
        status: TaskStatus,
        vendorStatus: String?,
        fetchedAt: Date,
        gzipBody: ByteBuffer,
        identityBody: ByteBuffer?,
        validator: Validator,
        linksExpireAt: Date?
    ) {
        self.provider = provider
        self.id = id
        self.vendorStatus = vendorStatus
        self.fetchedAt = fetchedAt
        self.bytes = AnswerBytes(gzip: gzipBody, identity: identityBody, validator: validator, status: status, linksExpireAt: linksExpireAt)
    }

    /// Encodes, hashes and compresses a record once.
    /// - Parameter reusableUntil: a final answer that will change (files of it still being kept)
    ///   is reused, and stored as reusable, no longer than this — as if its links expired then
    ///   (its JSON still says when they do).
    public init(record: TaskRecord, reusableUntil: Date? = nil) throws(GatewayError) {
        let linksExpireAt = record.linksExpireAt
        let json = record.jsonBytes(linksExpireAt: linksExpireAt)
        let reusable = reusableUntil.map { until in linksExpireAt.map { min($0, until) } ?? until } ?? linksExpireAt
        let identity = ByteBuffer(bytes: json)
        self.init(
            provider: record.provider,
            id: record.id,
            status: record.status,
            vendorStatus: record.vendorStatus,
            fetchedAt: record.fetchedAt,
            gzipBody: try Gzip.compress(identity),
            identityBody: identity,
            validator: Validator(of: json),
            linksExpireAt: reusable
        )
    }
}

/// A content coding taskgate can send.
public enum ContentCoding: String, Sendable {
    case gzip
    case identity
}
