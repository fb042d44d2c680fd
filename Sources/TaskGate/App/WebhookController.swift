import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// `/webhooks/{name}/…`: a receiver's deliveries, listed and queued again. Every route needs a
/// key with `admin: true` covering the webhook's providers (403 otherwise, and when no keys are
/// configured: these routes change what taskgate sends, so they never stand open).
struct WebhookController: Sendable {
    let outbox: any WebhookOutbox
    let feed: EventFeed
    let webhooks: [WebhookConfiguration]
    let providerNames: [String]
    let clock: any GatewayClock

    func addRoutes(to router: Router<GatewayRequestContext>) {
        router.get("/webhooks/:name/deliveries", use: deliveries)
        router.post("/webhooks/:name/deliveries/:id/retry", use: retry)
        router.post("/webhooks/:name/replay", use: replay)
    }

    static let listLimits = 1...200
    static let defaultListLimit = 50

    /// The webhook the path names, once the caller may administer it.
    private func webhook(_ context: GatewayRequestContext) throws -> WebhookConfiguration {
        let name = try context.parameters.require("name")
        guard context.isAdmin else {
            throw GatewayError(.forbidden, "Webhook deliveries need a key with admin: true (auth.keys.<name>.admin).")
        }
        guard let webhook = webhooks.first(where: { $0.name == name }) else {
            throw GatewayError(.webhookNotFound, "No webhook is configured as \(name).")
        }
        for provider in providers(of: webhook) { try context.requireAccess(to: provider) }
        return webhook
    }

    private func providers(of webhook: WebhookConfiguration) -> [String] { providerNames.filter(webhook.covers) }

    /// What a deliveries cursor is bound to: the webhook and the status filter.
    private static func binding(_ webhook: String, _ state: DeliveryState?) -> String { "deliveries\n\(webhook)\n\(state?.rawValue ?? "*")" }

    @Sendable func deliveries(_ request: Request, context: GatewayRequestContext) async throws -> Response {
        let webhook = try webhook(context)
        let parameters = request.uri.queryParameters.map { (String($0.key), String($0.value)) }
        try TaskQuery.checkNames(of: parameters, known: ["status", "limit", "cursor"])
        let value = { (name: String) in parameters.first { $0.0 == name }?.1 }
        var state: DeliveryState?
        if let text = value("status") {
            guard let parsed = DeliveryState(rawValue: text) else {
                throw GatewayError(.invalidQuery, "status must be one of pending, failed, delivered.")
            }
            state = parsed
        }
        var limit = Self.defaultListLimit
        if let text = value("limit") {
            guard let number = Int(text), Self.listLimits.contains(number) else {
                throw GatewayError(.invalidQuery, "limit must be an integer from \(Self.listLimits.lowerBound) to \(Self.listLimits.upperBound).")
            }
            limit = number
        }
        let key = try await feed.cursorKeys.key()
        let binding = Self.binding(webhook.name, state)
        var before: Int64?
        if let text = value("cursor") {
            guard let cursor = key.open(text, as: EventCursor.self, binding: binding), cursor.sequence >= 0 else {
                throw GatewayError(.invalidQuery, "The cursor is not one taskgate made for this list (webhook and status must stay the same).")
            }
            before = cursor.sequence
        }
        let records = try await outbox.deliveries(webhook: webhook.name, state: state, before: before, limit: limit)
        var writer = JSONWriter(capacity: 256 * records.count + 64)
        writer.beginObject()
        writer.key("deliveries")
        writer.beginArray()
        for record in records { record.appendJSON(to: &writer) }
        writer.endArray()
        writer.key("next")
        // A full page may have more after it; a short one is the end.
        writer.string(records.count == limit ? records.last.map { key.seal(EventCursor(sequence: $0.sequence), binding: binding) } : nil)
        writer.endObject()
        return Self.json(.ok, writer.bytes)
    }

    @Sendable func retry(_ request: Request, context: GatewayRequestContext) async throws -> Response {
        let webhook = try webhook(context)
        try TaskQuery.checkNames(of: request.uri.queryParameters.map { (String($0.key), String($0.value)) }, known: [])
        let id = try context.parameters.require("id")
        guard let record = try await outbox.retryDelivery(webhook: webhook.name, eventID: id, now: clock.date) else {
            throw GatewayError(.deliveryNotFound, "Webhook \(webhook.name) has no delivery of event \(id) (or it is past events_retention).")
        }
        context.logger.notice("webhook delivery queued again", metadata: ["webhook": "\(webhook.name)", "event": "\(id)"])
        var writer = JSONWriter(capacity: 512)
        record.appendJSON(to: &writer)
        return Self.json(.accepted, writer.bytes)
    }

    @Sendable func replay(_ request: Request, context: GatewayRequestContext) async throws -> Response {
        let webhook = try webhook(context)
        let parameters = request.uri.queryParameters.map { (String($0.key), String($0.value)) }
        try TaskQuery.checkNames(of: parameters, known: ["after"])
        let key = try await feed.cursorKeys.key()
        let position: EventPosition =
            try parameters.first { $0.0 == "after" }.map { .after(try EventCursor.open($0.1, with: key).sequence) } ?? .start
        // Where the replay starts, checked against the feed's retention like a reader's cursor.
        let start = try await feed.page(EventFeed.Query(position: position, providers: [], limit: 1)).start
        let queued = try await outbox.replayEvents(to: webhook.name, providers: providers(of: webhook), after: start, now: clock.date)
        context.logger.notice("webhook events replayed", metadata: ["webhook": "\(webhook.name)", "queued": "\(queued)"])
        var writer = JSONWriter(capacity: 128)
        writer.beginObject()
        writer.key("webhook")
        writer.string(webhook.name)
        writer.key("queued")
        writer.raw(Array(String(queued).utf8))
        writer.endObject()
        return Self.json(.accepted, writer.bytes)
    }

    private static func json(_ status: HTTPResponse.Status, _ bytes: [UInt8]) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(bytes: bytes))
        )
    }
}
