import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// The `/tasks` routes.
struct TaskController: Sendable {
    let service: TaskService
    let lister: TaskLister
    let cursorKeys: CursorKeyring
    let providerNames: [String]
    let metrics: GatewayMetrics
    /// `limits.max_wait`: the longest `?wait=`.
    let maxWait: Duration
    let cacheScope: CacheScope

    func addRoutes(to router: Router<GatewayRequestContext>) {
        router.get("/tasks/:provider/:id", use: task)
        router.get("/tasks", use: list)
    }

    @Sendable func task(_ request: Request, context: GatewayRequestContext) async throws -> Response {
        let provider = try context.parameters.require("provider")
        let id = try context.parameters.require("id")
        try TaskQuery.checkNames(of: request.uri.queryParameters.map { (String($0.key), String($0.value)) }, known: ["wait"])
        if context.allowedProviders != nil, providerNames.contains(provider) { try context.requireAccess(to: provider) }
        guard let coding = AcceptEncoding.choose(request.headers[.acceptEncoding]) else {
            throw GatewayError(.notAcceptable, "taskgate answers gzip or identity; Accept-Encoding allows neither.")
        }
        let result: TaskService.Served
        if let wait = try Self.wait(request.uri.queryParameters["wait"].map(String.init), max: maxWait) {
            let closure = await ConnectionClosure.of(context.channel)
            result = try await service.task(provider: provider, id: id, wait: wait, closure: closure, logger: context.logger)
        } else {
            result = try await service.task(provider: provider, id: id, logger: context.logger)
        }
        metrics.answers(provider: provider).record(result.cache, startedVendorCall: result.startedVendorCall)
        let answer = result.answer
        let etag = answer.etag(for: coding)
        var headers = Self.validatorFields(etag: etag, freshness: result.freshness, cache: result.cache, age: result.age, scope: cacheScope)
        if let condition = request.headers[.ifNoneMatch], answer.validator.isMatched(by: condition, coding: coding) {
            return Response(status: .notModified, headers: headers)
        }
        Self.addContentFields(to: &headers, coding: coding)
        let body = coding == .gzip ? answer.gzip : try service.identityBody(of: result)
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: body))
    }

    /// `?wait=`: `30s`, `500ms` or seconds, at most `limits.max_wait`; nil when absent.
    static func wait(_ text: String?, max: Duration) throws(GatewayError) -> Duration? {
        guard let text else { return nil }
        guard let wait = ConfigValues.duration(text, range: 0...max.seconds) else {
            throw GatewayError(.invalidQuery, "wait is a duration (30s, 500ms, or seconds) of at most \(Int(max.seconds))s: \(text)")
        }
        return wait
    }

    /// The headers of every task answer, 304 included. The hot path builds its answers with this
    /// too, so both paths send the same headers.
    static func validatorFields(etag: String, freshness: Freshness, cache: TaskService.CacheOutcome, age: Int?, scope: CacheScope) -> HTTPFields {
        var fields = HTTPFields()
        fields.reserveCapacity(12)
        fields[.vary] = "Accept-Encoding"
        fields[.eTag] = etag
        fields[.cacheControl] = freshness.cacheControl(scope)
        fields[.xCache] = cache.rawValue
        fields[.cacheStatus] = CacheStatus.value(cache, freshness)
        if let age { fields[.age] = String(age) }
        return fields
    }

    /// The headers that describe a body (not sent with 304).
    static func addContentFields(to fields: inout HTTPFields, coding: ContentCoding) {
        fields[.contentType] = "application/json"
        if coding == .gzip { fields[.contentEncoding] = "gzip" }
    }

    @Sendable func list(_ request: Request, context: GatewayRequestContext) async throws -> Response {
        let parameters = request.uri.queryParameters.map { (String($0.key), String($0.value)) }
        // Without a provider filter a scoped key lists the providers it covers; naming one it
        // does not cover is 403.
        let filtered = parameters.contains { $0.0 == "provider" }
        let visible = context.allowedProviders.map { allowed in providerNames.filter(allowed.contains) } ?? providerNames
        let cursorKey = try await cursorKeys.key()
        let query = try TaskQuery(parameters: parameters, configured: filtered ? providerNames : visible, cursorKey: cursorKey) { name in
            lister.tasks.providers[name].map { lister.tasks.listSource(for: $0).vendorFilterNames } ?? []
        }
        if filtered {
            for provider in query.providers { try context.requireAccess(to: provider) }
        }
        guard let coding = AcceptEncoding.choose(request.headers[.acceptEncoding]) else {
            throw GatewayError(.notAcceptable, "taskgate answers gzip or identity; Accept-Encoding allows neither.")
        }
        let page = try await lister.page(for: query, cursorKey: cursorKey, logger: context.logger)
        var body = ByteBuffer(bytes: page.jsonBytes())
        var headers: HTTPFields = [.contentType: "application/json", .vary: "Accept-Encoding", .cacheControl: cacheScope.listing]
        if coding == .gzip {
            body = try Gzip.compress(body)
            headers[.contentEncoding] = "gzip"
        }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: body))
    }
}

/// Entity-tag comparison for `If-None-Match` (RFC 9110 §13.1.2: weak comparison).
enum EntityTag {
    static func ifNoneMatch(_ header: String, matches etag: String) -> Bool {
        // What revalidating clients send: the tag they were given, as given.
        if header == etag { return true }
        let opaque = etag.hasPrefix("W/") ? String(etag.dropFirst(2)) : etag
        for candidate in header.split(separator: ",") {
            var tag = candidate.trimmingCharacters(in: .whitespaces)
            if tag == "*" { return true }
            if tag.hasPrefix("W/") { tag.removeFirst(2) }
            if tag == opaque { return true }
        }
        return false
    }
}
