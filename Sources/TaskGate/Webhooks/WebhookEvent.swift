import Crypto
import Foundation
import NIOCore

/// One event of the outbox: a task turned final, to be told to one receiver.
public struct WebhookEvent: Sendable, Equatable {
    /// `webhook-id`: unique per event, stable across retries.
    public var id: String
    public var webhook: String
    /// The body sent: `{"type": "task.final", "timestamp": …, "data": <the task's answer>}`.
    public var payload: ByteBuffer
    /// Attempts made before this one.
    public var attempts = 0
    /// The task's first request's `traceparent`: the delivery's span links to it.
    public var traceParent: String?

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
