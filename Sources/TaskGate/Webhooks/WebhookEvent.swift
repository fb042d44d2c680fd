import Crypto
import Foundation
import NIOCore

/// Which receivers hear about each provider's tasks: what the store writes into its outbox in
/// the transaction that stores a task's final answer.
public struct WebhookRoutes: Sendable {
    private let receivers: [String: [String]]

    public static let none = WebhookRoutes(receivers: [:])

    private init(receivers: [String: [String]]) { self.receivers = receivers }

    public init(_ webhooks: [WebhookConfiguration], providers: [String]) {
        var receivers: [String: [String]] = [:]
        for provider in providers {
            let names = webhooks.filter { $0.covers(provider) }.map(\.name)
            if !names.isEmpty { receivers[provider] = names }
        }
        self.receivers = receivers
    }

    /// The receivers of `provider`'s tasks, by name.
    func receivers(of provider: String) -> [String] { receivers[provider] ?? [] }

    /// The outbox rows for a task that has just turned final: one per receiver, its id the
    /// `webhook-id` (the same for every attempt, and for a second save of the same task).
    func events(for answer: EncodedAnswer) throws(GatewayError) -> [WebhookEvent] {
        let names = receivers(of: answer.provider)
        guard answer.isFinal, !names.isEmpty else { return [] }
        let payload = try WebhookEvent.payload(for: answer)
        return names.map { name in
            WebhookEvent(id: WebhookEvent.id(webhook: name, provider: answer.provider, taskID: answer.id), webhook: name, payload: payload)
        }
    }
}

/// One event of the outbox: a task turned final, to be told to one receiver.
public struct WebhookEvent: Sendable, Equatable {
    /// `webhook-id`: unique per event, stable across retries.
    public var id: String
    public var webhook: String
    /// The body sent: `{"type": "task.final", "timestamp": …, "data": <the task's answer>}`.
    public var payload: ByteBuffer
    /// Attempts made before this one.
    public var attempts = 0

    static func id(webhook: String, provider: String, taskID: String) -> String {
        "msg_" + Hex.encode(SHA256.hash(data: Array("\(webhook)\n\(provider)\n\(taskID)".utf8))).prefix(32)
    }

    /// The event body: the answer as `GET` gives it (its JSON), and when the task was seen final.
    static func payload(for answer: EncodedAnswer) throws(GatewayError) -> ByteBuffer {
        let data = try answer.bytes.inflated()
        var writer = JSONWriter(capacity: data.readableBytes + 96)
        writer.beginObject()
        writer.key("type")
        writer.string("task.final")
        writer.key("timestamp")
        writer.date(answer.fetchedAt)
        writer.key("data")
        writer.raw(data.readableBytesView)
        writer.endObject()
        return ByteBuffer(bytes: writer.bytes)
    }

    /// `webhook-signature`: `v1,` and the base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`.
    static func signature(id: String, timestamp: Int, body: ByteBuffer, key: [UInt8]) -> String {
        var signed = Array("\(id).\(timestamp).".utf8)
        signed.append(contentsOf: body.readableBytesView)
        let mac = HMAC<SHA256>.authenticationCode(for: signed, using: SymmetricKey(data: key))
        return "v1," + Data(mac).base64EncodedString()
    }
}

/// What became of one delivery attempt.
public enum WebhookOutcome: Sendable, Equatable {
    case delivered
    /// Failed; tried again at `at`.
    case retry(at: Date, error: String)
    /// Failed for the last time: kept as failed.
    case failed(error: String)
}

/// The receivers' backlog, for metrics.
public struct WebhookBacklog: Sendable, Equatable {
    public var webhook: String
    public var pending: Int
    public var oldestCreatedAt: Date?
}
