import Crypto
import NIOCore

/// The strong validator of a task answer: 128 bits of SHA-256 over its JSON body.
///
/// Kept as 16 bytes rather than text, so a hot answer carries no strings; the ETag is written out
/// when it is sent. The gzip and identity bodies differ byte for byte, so they carry different
/// ETags (RFC 9110 §8.8.3.3): `"<hex>"` and `"<hex>-gzip"`.
public struct Validator: Hashable, Sendable {
    private let high: UInt64
    private let low: UInt64

    /// The validator of a JSON body.
    init(of json: [UInt8]) {
        let digest = Array(SHA256.hash(data: json).prefix(16))
        self.init(bytes: digest)
    }

    /// The validator as stored: 32 lowercase hex digits; nil for anything else.
    init?(hex: String) {
        guard hex.utf8.count == 32, let bytes = Hex.decode(hex) else { return nil }
        self.init(bytes: bytes)
    }

    private init(bytes: [UInt8]) {
        self = bytes.withUnsafeBytes { Validator(bytes: $0) }
    }

    /// The validator from its 16 bytes, as ``withUnsafeBytes(_:)`` gives them.
    init(bytes: UnsafeRawBufferPointer) {
        high = UInt64(bigEndian: bytes.loadUnaligned(as: UInt64.self))
        low = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
    }

    /// Its 16 bytes, digest order (the memory layer stores them next to the body).
    func withUnsafeBytes<Result>(_ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        var words = (high.bigEndian, low.bigEndian)
        return Swift.withUnsafeBytes(of: &words, body)
    }

    /// 32 lowercase hex digits, as stored.
    public var hex: String {
        var buffer = ByteBuffer()
        writeHex(into: &buffer)
        return String(buffer: buffer)
    }

    /// The quoted ETag of one representation.
    public func etag(for coding: ContentCoding) -> String {
        var buffer = ByteBuffer()
        writeETag(for: coding, into: &buffer)
        return String(buffer: buffer)
    }

    /// Writes the quoted ETag without building a string (the hot path's answers).
    func writeETag(for coding: ContentCoding, into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(ascii: "\""))
        writeHex(into: &buffer)
        if coding == .gzip { buffer.writeStaticString("-gzip") }
        buffer.writeInteger(UInt8(ascii: "\""))
    }

    /// Whether an `If-None-Match` header matches this validator's ETag for `coding`. The usual
    /// header — the one ETag the client was given — is compared without building a string.
    func isMatched(by ifNoneMatch: String, coding: ContentCoding) -> Bool {
        var header = ifNoneMatch
        let exact = header.withUTF8 { given in
            let length = coding == .gzip ? 39 : 34
            guard given.count == length, given[0] == UInt8(ascii: "\""), given[length - 1] == UInt8(ascii: "\"") else { return false }
            if coding == .gzip, !given[33..<38].elementsEqual("-gzip".utf8) { return false }
            return withUnsafeTemporaryAllocation(byteCount: 32, alignment: 1) { hex in
                Hex.write(high, low, into: hex)
                return hex.elementsEqual(given[1..<33])
            }
        }
        return exact || EntityTag.ifNoneMatch(ifNoneMatch, matches: etag(for: coding))
    }

    private func writeHex(into buffer: inout ByteBuffer) {
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 32) { out in
            Hex.write(high, low, into: out)
            return 32
        }
    }
}
