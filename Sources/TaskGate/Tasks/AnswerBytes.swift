import CompressNIO
import Foundation
import NIOCore

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
