import Crypto
import Foundation
import NIOCore

/// One event on its way to one receiver, as the dispatcher claims it.
public struct WebhookDelivery: Sendable, Equatable {
    /// The event's id: the `webhook-id`, the same for every attempt and every receiver.
    public var id: String
    public var webhook: String
    /// The event's place in the feed: what identifies the delivery with `webhook`.
    public var sequence: Int64
    /// The body sent (`TaskEvent.payload`).
    public var payload: ByteBuffer
    /// Attempts made in this round before this one (a retry or replay starts a new round).
    public var attempts = 0
    /// The task's first request's `traceparent`: the delivery's span links to it.
    public var traceParent: String?
    /// Until when the claim holds it: its outcome is recorded only while the delivery is still
    /// this claim's (not queued again meanwhile by a retry or replay, which then stands).
    public var heldUntil: Date = .distantPast

    /// `webhook-signature`: `v1,` and the base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`.
    static func signature(id: String, timestamp: Int, body: ByteBuffer, key: [UInt8]) -> String {
        var signed = Array("\(id).\(timestamp).".utf8)
        signed.append(contentsOf: body.readableBytesView)
        let mac = HMAC<SHA256>.authenticationCode(for: signed, using: SymmetricKey(data: key))
        return "v1," + Data(mac).base64EncodedString()
    }
}

/// One attempt to deliver: when, and what the receiver answered (its HTTP status) or why it
/// answered nothing usable (`error`: refused, timed out, …).
public struct WebhookAttempt: Sendable, Equatable, Codable {
    public var at: Date
    public var status: Int?
    public var error: String?

    public init(at: Date, status: Int? = nil, error: String? = nil) {
        self.at = at
        self.status = status
        self.error = error
    }

    enum CodingKeys: String, CodingKey {
        case at, status, error
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let text = try container.decode(String.self, forKey: .at)
        guard let at = RFC3339.parse(text) else {
            throw DecodingError.dataCorruptedError(forKey: .at, in: container, debugDescription: "not an RFC 3339 time")
        }
        self.at = at
        status = try container.decodeIfPresent(Int.self, forKey: .status)
        error = try container.decodeIfPresent(String.self, forKey: .error)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(RFC3339.format(at), forKey: .at)
        try container.encodeIfPresent(status, forKey: .status)
        try container.encodeIfPresent(error, forKey: .error)
    }

    /// The attempt as the store's attempt log keeps it (one JSON object).
    var json: String {
        var writer = JSONWriter(capacity: 64)
        appendJSON(to: &writer)
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    func appendJSON(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("at")
        writer.date(at)
        if let status {
            writer.key("status")
            writer.raw(Array(String(status).utf8))
        }
        if let error {
            writer.key("error")
            writer.string(error)
        }
        writer.endObject()
    }

    /// Reads a stored attempt log; an unreadable one reads as no attempts (it is only shown).
    static func log(from json: String) -> [WebhookAttempt] {
        (try? JSONDecoder().decode([WebhookAttempt].self, from: Data(json.utf8))) ?? []
    }
}

/// What became of one delivery attempt.
public enum WebhookOutcome: Sendable, Equatable {
    case delivered
    /// Failed; tried again at `at`.
    case retry(at: Date)
    /// Failed for the last time: kept as failed.
    case failed

    /// The state the delivery is kept in after it.
    var state: DeliveryState {
        switch self {
        case .delivered: .delivered
        case .retry: .pending
        case .failed: .failed
        }
    }
}

/// Where a delivery stands.
public enum DeliveryState: String, Sendable, CaseIterable {
    case pending, delivered, failed
}

/// A delivery as `GET /webhooks/{name}/deliveries` shows it.
public struct DeliveryRecord: Sendable, Equatable {
    public var eventID: String
    public var webhook: String
    public var sequence: Int64
    public var state: DeliveryState
    /// Every attempt, oldest first (rounds after a retry or replay included).
    public var attempts: [WebhookAttempt]
    /// When the next attempt is due; nil unless pending.
    public var nextAttemptAt: Date?
    /// When the delivery was last queued (written with its event, or retried, or replayed).
    public var queuedAt: Date

    func appendJSON(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("eventId")
        writer.string(eventID)
        writer.key("webhook")
        writer.string(webhook)
        writer.key("status")
        writer.string(state.rawValue)
        writer.key("queuedAt")
        writer.date(queuedAt)
        writer.key("attempts")
        writer.beginArray()
        for attempt in attempts { attempt.appendJSON(to: &writer) }
        writer.endArray()
        writer.key("nextAttemptAt")
        writer.date(state == .pending ? nextAttemptAt : nil)
        writer.endObject()
    }
}

/// The receivers' backlog, for metrics.
public struct WebhookBacklog: Sendable, Equatable {
    public var webhook: String
    public var pending: Int
    /// When the longest-waiting pending delivery was queued.
    public var oldestCreatedAt: Date?
}
