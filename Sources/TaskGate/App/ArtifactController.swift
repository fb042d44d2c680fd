import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// `GET /tasks/{provider}/{id}/artifacts/{n}`: a file a final answer links to, as taskgate kept
/// it (`mirror`) — the Content-Type its answer lists, inert (`Artifact.servingFields`), a strong
/// ETag (its SHA-256), `immutable`, gzip when the caller takes it and it helps, and one byte
/// range. HEAD is the same without the body.
struct ArtifactController: Sendable {
    let service: TaskService
    let artifacts: any ArtifactStore
    let providerNames: [String]
    let metrics: GatewayMetrics
    let cacheScope: CacheScope

    func addRoutes(to router: Router<GatewayRequestContext>) {
        router.get("/tasks/:provider/:id/artifacts/:n", use: artifact)
    }

    @Sendable func artifact(_ request: Request, context: GatewayRequestContext) async throws -> Response {
        let providerName = try context.parameters.require("provider")
        let rawID = try context.parameters.require("id")
        let position = try context.parameters.require("n")
        try TaskQuery.checkNames(of: request.uri.queryParameters.map { (String($0.key), String($0.value)) }, known: [])
        // A key scoped to providers covers their artifacts, as their tasks.
        if context.allowedProviders != nil, providerNames.contains(providerName) { try context.requireAccess(to: providerName) }
        let (provider, id) = try service.resolve(provider: providerName, id: rawID)
        guard let n = Int(position), n >= 0, String(n) == position else {
            throw GatewayError(.artifactNotFound, "An artifact is named by its position in the answer's artifacts: 0, 1, …", provider: provider.name)
        }
        guard let stored = try await service.store.answer(provider: provider.name, id: id), stored.isFinal else {
            throw GatewayError(.artifactNotFound, "taskgate keeps no files for this task: it has no final answer here.", provider: provider.name)
        }
        let listed = Artifact.listed(in: try stored.bytes.inflated())
        guard n < listed.count, let file = try await artifacts.artifact(sha256: listed[n].sha256) else {
            throw GatewayError(.artifactNotFound, "The task's answer lists \(listed.count) artifacts.", provider: provider.name)
        }
        // Served as this answer lists it (type per task and position, not per SHA-256), inert.
        var headers = listed[n].servingFields
        headers[.cacheControl] = Freshness.immutable.cacheControl(cacheScope)
        headers[.acceptRanges] = "bytes"
        headers[.vary] = "Accept-Encoding"
        // A range is of the file's own bytes; otherwise gzip when the caller takes it and it helps.
        let range = try request.headers[.range].flatMap { header throws(GatewayError) in try Self.range(header, size: file.body.readableBytes) }
        let gzip = range == nil && file.gzipBody != nil && AcceptEncoding.choose(request.headers[.acceptEncoding]) == .gzip
        let etag = "\"\(file.sha256)\(gzip ? "-gzip" : "")\""
        headers[.eTag] = etag
        if let condition = request.headers[.ifNoneMatch], EntityTag.ifNoneMatch(condition, matches: etag) {
            return Response(status: .notModified, headers: headers)
        }
        var body = gzip ? file.gzipBody! : file.body
        var status = HTTPResponse.Status.ok
        if let range {
            body = file.body.getSlice(at: file.body.readerIndex + range.lowerBound, length: range.count)!
            headers[.contentRange] = "bytes \(range.lowerBound)-\(range.upperBound - 1)/\(file.body.readableBytes)"
            status = .partialContent
        }
        if gzip { headers[.contentEncoding] = "gzip" }
        headers[.contentLength] = String(body.readableBytes)
        metrics.artifactServed(provider: provider.name, bytes: request.method == .head ? 0 : body.readableBytes)
        return Response(status: status, headers: headers, body: .init(byteBuffer: body))
    }

    /// The one range of a `Range: bytes=…` header (`a-b`, `a-`, `-n`) within `size` bytes; nil to
    /// send the whole file (another unit, several ranges, or a header that cannot be read, as RFC
    /// 9110 lets a server ignore them). Throws `range-not-satisfiable` for a range past the end.
    static func range(_ header: String, size: Int) throws(GatewayError) -> Range<Int>? {
        guard header.hasPrefix("bytes="), !header.contains(",") else { return nil }
        let spec = header.dropFirst(6).trimmingCharacters(in: .whitespaces)
        let parts = spec.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return nil }
        let unsatisfiable = { () -> GatewayError in
            var error = GatewayError(.rangeNotSatisfiable, "The file has \(size) bytes; the range asked for is outside them.")
            error.completeLength = size
            return error
        }
        if parts[0].isEmpty {
            guard let suffix = Int(parts[1]) else { return nil }
            guard suffix > 0, size > 0 else { throw unsatisfiable() }
            return max(0, size - suffix)..<size
        }
        guard let first = Int(parts[0]), first >= 0 else { return nil }
        let last = parts[1].isEmpty ? Int.max : Int(parts[1])
        guard let last, last >= first else { return nil }
        guard first < size else { throw unsatisfiable() }
        return first..<(min(last, size - 1) + 1)
    }
}
