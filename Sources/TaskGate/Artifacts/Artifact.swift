import Crypto
import Foundation
import HTTPTypes
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
        // All or nothing: an item skipped would shift every later position onto another file.
        var artifacts: [Artifact] = []
        for item in items {
            guard let source = item["source"] as? String, let bytes = item["bytes"] as? Int, let sha256 = item["sha256"] as? String,
                let contentType = item["contentType"] as? String
            else { return [] }
            artifacts.append(Artifact(source: source, bytes: bytes, sha256: sha256, contentType: contentType))
        }
        return artifacts
    }

    /// The fields that keep a served file inert whatever its origin put in it: its type as this
    /// task's answer lists it (a second link to the same bytes may say another), never sniffed
    /// (`nosniff`), sandboxed if a browser renders it anyway (`Content-Security-Policy: sandbox`),
    /// and downloaded rather than shown unless its type is one a browser only displays.
    var servingFields: HTTPFields {
        let type = Self.isDisplayedOnly(contentType) ? contentType : (Self.isPlainType(contentType) ? contentType : "application/octet-stream")
        var fields: HTTPFields = [.contentType: type, .xContentTypeOptions: "nosniff", .contentSecurityPolicy: "sandbox"]
        if !Self.isDisplayedOnly(contentType) { fields[.contentDisposition] = "attachment" }
        return fields
    }

    /// Types a browser displays without running anything (images but SVG, audio, video, plain
    /// text, JSON, archives, octet streams); HTML, SVG, XML, JavaScript, PDF and everything else
    /// are sent as attachments.
    static func isDisplayedOnly(_ contentType: String) -> Bool {
        let type = contentType.split(separator: ";", maxSplits: 1).first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        let exact: Set<String> = [
            "text/plain", "text/csv", "application/json", "application/octet-stream", "application/zip", "application/gzip",
            "application/x-tar",
        ]
        if exact.contains(type) { return true }
        guard let slash = type.firstIndex(of: "/") else { return false }
        let major = type[..<slash]
        let minor = type[type.index(after: slash)...]
        guard ["image", "audio", "video"].contains(major), !minor.isEmpty, !minor.contains("xml"), !minor.contains("svg") else { return false }
        return minor.utf8.allSatisfy { (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || "-.+".utf8.contains($0) }
    }

    /// A `type/subtype` with optional parameters of visible ASCII, at most 255 bytes: what may be
    /// echoed as a header value.
    static func isPlainType(_ contentType: String) -> Bool {
        contentType.utf8.count <= 255 && contentType.utf8.contains(UInt8(ascii: "/"))
            && contentType.utf8.allSatisfy { (0x20...0x7E).contains($0) }
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
