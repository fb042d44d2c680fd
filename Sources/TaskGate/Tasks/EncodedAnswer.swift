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

/// The bytes of a task answer as sent: the gzipped JSON, the JSON when at hand, their validator,
/// the task's status (listings filter on it) and when its links expire (its freshness).
public struct AnswerBytes: Sendable {
    /// The body gzipped, as stored and as sent to gzip callers.
    public var gzip: ByteBuffer
    /// The body as JSON when it is at hand (fresh from the vendor); otherwise inflated on demand.
    public var identity: ByteBuffer?
    public let validator: Validator
    public let status: TaskStatus
    /// The answer's `linksExpireAt`, kept beside the body so serving it needs no parsing.
    public let linksExpireAt: Date?

    /// The quoted ETag of one representation.
    public func etag(for coding: ContentCoding) -> String { validator.etag(for: coding) }

    /// The body for identity callers.
    public func inflated(maxBytes: Int = 64 << 20) throws(GatewayError) -> ByteBuffer {
        if let identity { return identity }
        return try Gzip.inflate(gzip, maxBytes: maxBytes)
    }
}

/// A content coding taskgate can send.
public enum ContentCoding: String, Sendable {
    case gzip
    case identity
}

/// gzip through zlib (compress-nio), with every failure classified. Public for the simulators,
/// which gzip like the vendors do.
public enum Gzip {
    public static func compress(_ buffer: ByteBuffer) throws(GatewayError) -> ByteBuffer {
        var input = buffer
        do {
            return try input.compress(with: .gzip())
        } catch {
            throw GatewayError(.internal, "Compressing an answer failed.")
        }
    }

    static func inflate(_ buffer: ByteBuffer, maxBytes: Int) throws(GatewayError) -> ByteBuffer {
        var input = buffer
        do {
            return try input.decompress(with: .gzip(), maxSize: maxBytes)
        } catch {
            throw GatewayError(.storeUnavailable, "A stored answer could not be inflated.")
        }
    }
}
