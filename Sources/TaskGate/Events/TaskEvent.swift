import Crypto
import Foundation
import NIOCore

/// Something that happened to a task, kept in the event feed (`GET /events`) and sent to the
/// webhooks that cover its provider: one event, one id, whichever way it is read.
public struct TaskEvent: Sendable, Equatable {
    /// The event's id and every delivery's `webhook-id`: `msg_` and 32 hex digits of the SHA-256
    /// of provider and task, so a second save of the same task makes the same id.
    public var id: String
    public var type: String
    public var provider: String
    public var taskID: String
    public var createdAt: Date
    /// `{"type": …, "timestamp": …, "data": <the task's answer>}`: the webhook body, and the
    /// feed's event after its `id`.
    public var payload: ByteBuffer
    /// The webhooks told of it, by name; each gets a delivery written with the event.
    public var receivers: [String]

    /// The one type there is so far: a task turned final.
    public static let finalType = "task.final"
    public static let types: Set<String> = [finalType]

    /// The event of a task that has just turned final.
    public static func final(_ answer: EncodedAnswer, receivers: [String]) throws(GatewayError) -> TaskEvent {
        TaskEvent(
            id: id(provider: answer.provider, taskID: answer.id),
            type: finalType,
            provider: answer.provider,
            taskID: answer.id,
            createdAt: answer.fetchedAt,
            payload: try payload(for: answer),
            receivers: receivers
        )
    }

    static func id(provider: String, taskID: String) -> String {
        "msg_" + Hex.encode(SHA256.hash(data: Array("\(provider)\n\(taskID)".utf8))).prefix(32)
    }

    /// The body: the answer as `GET` gives it (its JSON), and when the task was seen final.
    static func payload(for answer: EncodedAnswer) throws(GatewayError) -> ByteBuffer {
        let data = try answer.bytes.inflated()
        var writer = JSONWriter(capacity: data.readableBytes + 96)
        writer.beginObject()
        writer.key("type")
        writer.string(finalType)
        writer.key("timestamp")
        writer.date(answer.fetchedAt)
        writer.key("data")
        writer.raw(data.readableBytesView)
        writer.endObject()
        return ByteBuffer(bytes: writer.bytes)
    }
}

/// An event as the feed reads it back: its place in the feed, its id and its body.
public struct StoredEvent: Sendable, Equatable {
    /// Its position: every replica sees events in this order, each once.
    public var sequence: Int64
    public var id: String
    public var type: String
    public var provider: String
    public var payload: ByteBuffer

    /// The feed's form of the event, one line of JSON: `{"id": …}` followed by the payload's
    /// members (`type`, `timestamp`, `data`), so the body is never parsed or re-encoded.
    func appendJSON(to bytes: inout [UInt8]) {
        bytes.append(contentsOf: #"{"id":"#.utf8)
        JSONWriter.appendQuoted(id, to: &bytes)
        let view = payload.readableBytesView
        guard view.count > 2, view.first == UInt8(ascii: "{") else {
            bytes.append(UInt8(ascii: "}"))
            return
        }
        bytes.append(UInt8(ascii: ","))
        bytes.append(contentsOf: view.dropFirst())
    }
}

/// One page of the feed, with where the feed starts and ends when it was read (one snapshot).
public struct EventPage: Sendable, Equatable {
    /// The position read after (`EventPosition` resolved).
    public var start: Int64
    public var events: [StoredEvent]
    /// The position every event at or before which has been trimmed (`events_retention`).
    public var trimmedThrough: Int64
    /// The position of the last event written.
    public var last: Int64
}

/// Where a read of the feed begins.
public enum EventPosition: Sendable, Equatable {
    /// The oldest event kept.
    case start
    /// After the last event written (`after=now`).
    case end
    /// After the event at this position.
    case after(Int64)
}
