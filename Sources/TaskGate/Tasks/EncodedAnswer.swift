import CompressNIO
import Crypto
import Foundation
import NIOCore

/// A task answer ready to send: the gzipped JSON body, its ETag and what the cache needs to know.
///
/// Built once per vendor answer; a final one is stored as is and sent as stored.
public struct EncodedAnswer: Sendable {
    public var provider: String
    public var id: String
    public var status: TaskStatus
    public var vendorStatus: String?
    public var fetchedAt: Date
    /// The body gzipped, as stored and as sent to gzip callers.
    public var gzipBody: ByteBuffer
    /// The body as JSON when it is at hand (fresh from the vendor); otherwise inflated on demand.
    public var identityBody: ByteBuffer?
    /// The quoted ETags of both representations, made once rather than per request.
    let identityETag: String
    let gzipETag: String

    /// The strong validator of the JSON body, without quotes (as stored); see `etag(for:)`.
    public var etag: String { String(identityETag.dropFirst().dropLast()) }

    public var isFinal: Bool { status.isFinal }

    public init(
        provider: String,
        id: String,
        status: TaskStatus,
        vendorStatus: String?,
        fetchedAt: Date,
        gzipBody: ByteBuffer,
        identityBody: ByteBuffer?,
        etag: String
    ) {
        self.provider = provider
        self.id = id
        self.status = status
        self.vendorStatus = vendorStatus
        self.fetchedAt = fetchedAt
        self.gzipBody = gzipBody
        self.identityBody = identityBody
        self.identityETag = "\"\(etag)\""
        self.gzipETag = "\"\(etag)-gzip\""
    }

    /// Encodes, hashes and compresses a record once.
    public init(record: TaskRecord) throws(GatewayError) {
        let json = record.jsonBytes()
        let identity = ByteBuffer(bytes: json)
        self.init(
            provider: record.provider,
            id: record.id,
            status: record.status,
            vendorStatus: record.vendorStatus,
            fetchedAt: record.fetchedAt,
            gzipBody: try Gzip.compress(identity),
            identityBody: identity,
            etag: Self.validator(of: json)
        )
    }

    /// The body for identity callers.
    public func identity(maxBytes: Int = 64 << 20) throws(GatewayError) -> ByteBuffer {
        if let identityBody { return identityBody }
        return try Gzip.inflate(gzipBody, maxBytes: maxBytes)
    }

    /// The quoted ETag of one representation: the gzip and identity bodies differ byte for byte,
    /// so they carry different strong validators (RFC 9110 §8.8.3.3).
    public func etag(for coding: ContentCoding) -> String {
        switch coding {
        case .identity: identityETag
        case .gzip: gzipETag
        }
    }

    /// 128 bits of SHA-256 over the JSON body, hex.
    static func validator(of json: [UInt8]) -> String {
        Hex.encode(SHA256.hash(data: json).prefix(16))
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
