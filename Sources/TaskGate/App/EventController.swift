import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// `GET /events`: the task event feed, as pages of JSON or, with `Accept: text/event-stream`, as
/// server-sent events.
struct EventController: Sendable {
    let feed: EventFeed
    let providerNames: [String]
    let cacheScope: CacheScope

    func addRoutes(to router: Router<GatewayRequestContext>) {
        router.get("/events", use: events)
    }

    static let parameters: Set<String> = ["after", "provider", "type", "limit"]

    @Sendable func events(_ request: Request, context: GatewayRequestContext) async throws -> Response {
        let parameters = request.uri.queryParameters.map { (String($0.key), String($0.value)) }
        let streaming = Self.wantsStream(request.headers[.accept])
        let lastEventID = streaming ? request.headers[.lastEventID] : nil
        let cursorKey = try await feed.cursorKeys.key()
        let query = try Self.query(
            parameters,
            lastEventID: lastEventID,
            keyName: context.keyName,
            allowedProviders: context.allowedProviders,
            configured: providerNames,
            cursorKey: cursorKey
        )
        if streaming {
            // The first read answers errors (a forged or expired cursor) before the stream begins.
            let start = try await feed.page(EventFeed.Query(position: query.position, providers: query.providers, limit: 1)).start
            let headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-store", .xAccelBuffering: "no"]
            guard request.method != .head else { return Response(status: .ok, headers: headers) }
            let slot = try feed.openStream()
            let closure = await ConnectionClosure.of(context.channel)
            let (feed, providers) = (feed, query.providers)
            return Response(
                status: .ok,
                headers: headers,
                body: ResponseBody { writer in
                    try await feed.stream(after: start, providers: providers, to: &writer, closure: closure)
                    withExtendedLifetime(slot) {}
                    try await writer.finish(nil)
                }
            )
        }
        let page = try await feed.page(query)
        guard let coding = AcceptEncoding.choose(request.headers[.acceptEncoding]) else {
            throw GatewayError(.notAcceptable, "taskgate answers gzip or identity; Accept-Encoding allows neither.")
        }
        var body = try await feed.pageJSON(page)
        var headers: HTTPFields = [.contentType: "application/json", .vary: "Accept-Encoding, Accept", .cacheControl: cacheScope.listing]
        if coding == .gzip {
            body = try Gzip.compress(body)
            headers[.contentEncoding] = "gzip"
        }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: body))
    }

    /// Whether `Accept` asks for server-sent events (`text/event-stream`, not refused by `q=0`).
    static func wantsStream(_ accept: String?) -> Bool {
        guard let accept else { return false }
        return accept.split(separator: ",").contains { range in
            let parts = range.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            guard parts.first == "text/event-stream" else { return false }
            let weight = parts.dropFirst().first { $0.hasPrefix("q=") }.flatMap { Double($0.dropFirst(2)) }
            return (weight ?? 1) > 0
        }
    }

    /// The checked query: `after` (a cursor, or `now`) or `Last-Event-ID` (which wins: it is what
    /// a reconnecting client sends with its first URL), `provider` (configured names the key
    /// covers; default: every provider it covers), `type`, `limit`.
    static func query(
        _ parameters: [(String, String)],
        lastEventID: String?,
        keyName: String?,
        allowedProviders: Set<String>?,
        configured: [String],
        cursorKey: CursorKey
    ) throws(GatewayError) -> EventFeed.Query {
        try TaskQuery.checkNames(of: parameters, known: Self.parameters)
        let value = { (name: String) in parameters.first { $0.0 == name }?.1 }
        var providers = allowedProviders.map { allowed in configured.filter(allowed.contains) } ?? configured
        if let text = value("provider") {
            providers = try TaskQuery.providerNames(text, configured: configured)
            for name in providers { try RequestPolicy.requireAccess(keyName: keyName, allowedProviders: allowedProviders, to: name) }
        }
        if let text = value("type") {
            var types: Set<String> = []
            for name in text.split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
                guard TaskEvent.types.contains(name) else {
                    throw GatewayError(
                        .invalidQuery,
                        "type \(name.isEmpty ? "(empty)" : name) is not an event type; known: \(TaskEvent.types.sorted().joined(separator: ", "))."
                    )
                }
                types.insert(name)
            }
            if !types.contains(TaskEvent.finalType) { providers = [] }
        }
        var limit = EventFeed.defaultLimit
        if let text = value("limit") {
            guard let number = Int(text), EventFeed.limits.contains(number) else {
                throw GatewayError(.invalidQuery, "limit must be an integer from \(EventFeed.limits.lowerBound) to \(EventFeed.limits.upperBound).")
            }
            limit = number
        }
        let position: EventPosition
        if let text = lastEventID ?? value("after") {
            position = text == "now" ? .end : .after(try EventCursor.open(text, with: cursorKey).sequence)
        } else {
            position = .start
        }
        return EventFeed.Query(position: position, providers: providers, limit: limit)
    }
}

extension HTTPField.Name {
    static let lastEventID = Self("Last-Event-ID")!
    static let xAccelBuffering = Self("X-Accel-Buffering")!
}
