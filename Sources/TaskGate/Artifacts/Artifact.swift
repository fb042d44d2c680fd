import Crypto
import Foundation
import NIOCore

/// A linked file taskgate keeps (`providers.<name>.mirror`), as the answer lists it.
public struct Artifact: Sendable, Equatable {
    /// The link without its query: where the file came from, without the signature.
    public var source: String
    public var bytes: Int
    /// Lowercase hex SHA-256 of the bytes: the file's key in the store (kept once however many
    /// tasks link to it) and its ETag.
    public var sha256: String
    public var contentType: String

    /// `GET` path of the `position`-th artifact of a task.
    static func href(provider: String, id: String, position: Int) -> String {
        "/tasks/\(provider)/\(id)/artifacts/\(position)"
    }

    /// The artifacts an answer lists, in order; empty when it lists none (or cannot be read).
    static func listed(in answerJSON: ByteBuffer) -> [Artifact] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(answerJSON.readableBytesView)) as? [String: Any],
            let items = object["artifacts"] as? [[String: Any]]
        else { return [] }
        return items.compactMap { item in
            guard let source = item["source"] as? String, let bytes = item["bytes"] as? Int, let sha256 = item["sha256"] as? String,
                let contentType = item["contentType"] as? String
            else { return nil }
            return Artifact(source: source, bytes: bytes, sha256: sha256, contentType: contentType)
        }
    }
}

/// A kept file's bytes, as the store holds them.
public struct StoredArtifact: Sendable, Equatable {
    public var sha256: String
    public var contentType: String
    public var body: ByteBuffer
    /// The body gzipped, when that makes it at least a tenth smaller; nil otherwise.
    public var gzipBody: ByteBuffer?

    /// A downloaded file, hashed, and gzipped when that helps.
    init(contentType: String, body: ByteBuffer) {
        self.sha256 = Hex.encode(SHA256.hash(data: body.readableBytesView))
        self.contentType = contentType
        self.body = body
        let gzipped = try? Gzip.compress(body)
        self.gzipBody = gzipped.flatMap { $0.readableBytes * 10 < body.readableBytes * 9 ? $0 : nil }
    }

    public init(sha256: String, contentType: String, body: ByteBuffer, gzipBody: ByteBuffer?) {
        self.sha256 = sha256
        self.contentType = contentType
        self.body = body
        self.gzipBody = gzipBody
    }
}
