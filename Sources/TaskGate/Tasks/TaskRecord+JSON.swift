import Foundation

extension TaskRecord {
    /// The answer body of `GET /tasks/{provider}/{id}`, in the field order of the API contract.
    func jsonBytes() -> [UInt8] { jsonBytes(linksExpireAt: linksExpireAt) }

    /// - Parameter linksExpireAt: `self.linksExpireAt`, when the caller has found it already.
    func jsonBytes(linksExpireAt: Date?) -> [UInt8] {
        var writer = JSONWriter(capacity: 320 + (result?.bytes.count ?? 0) + (vendorFields?.bytes.count ?? 0))
        write(to: &writer, linksExpireAt: linksExpireAt)
        return writer.bytes
    }

    func write(to writer: inout JSONWriter, linksExpireAt: Date?) {
        writer.beginObject()
        writer.key("provider")
        writer.string(provider)
        writer.key("kind")
        writer.string(kind)
        writer.key("id")
        writer.string(id)
        writer.key("status")
        writer.string(status.rawValue)
        writer.key("final")
        writer.bool(isFinal)
        writer.key("vendorStatus")
        writer.string(vendorStatus)
        writer.key("result")
        if let result { writer.raw(result.bytes) } else { writer.null() }
        writer.key("error")
        if let error {
            writer.beginObject()
            writer.key("code")
            writer.string(error.code)
            writer.key("message")
            writer.string(error.message)
            writer.endObject()
        } else {
            writer.null()
        }
        writer.key("createdAt")
        writer.date(createdAt)
        writer.key("finishedAt")
        writer.date(finishedAt)
        writer.key("fetchedAt")
        writer.date(fetchedAt)
        writer.key("vendorRequestId")
        writer.string(vendorRequestID)
        writer.key("vendorFields")
        if let vendorFields { writer.raw(vendorFields.bytes) } else { writer.null() }
        writer.key("linksExpireAt")
        writer.date(linksExpireAt)
        writer.key("artifacts")
        writer.beginArray()
        for (position, artifact) in artifacts.enumerated() {
            writer.beginObject()
            writer.key("href")
            writer.string(Artifact.href(provider: provider, id: id, position: position))
            writer.key("source")
            writer.string(artifact.source)
            writer.key("bytes")
            writer.raw(String(artifact.bytes).utf8)
            writer.key("sha256")
            writer.string(artifact.sha256)
            writer.key("contentType")
            writer.string(artifact.contentType)
            writer.endObject()
        }
        writer.endArray()
        writer.endObject()
    }
}
