import Foundation
import HTTPTypes
import Hummingbird
import Testing

@testable import TaskGate

/// An OTLP/HTTP collector of the test's own (JSON encoding): what taskgate exported, span by span.
final class OTLPReceiver: Sendable {
    /// One span as OTLP/JSON carries it, ids in hex.
    struct Span: Sendable {
        var traceID: String
        var spanID: String
        var parentSpanID: String
        var name: String
        /// OTLP's SpanKind: 2 server, 3 client, 1 internal.
        var kind: Int
        var attributes: [String: String]
        var events: [String]
        /// Linked spans: (trace id, span id).
        var links: [(String, String)]
        var resource: [String: String]
    }

    private let received = Shared<[Span]>([])
    private let bodies = Shared<[String]>([])

    var spans: [Span] { received.value }
    /// Every request body as text: for looking for what must never be exported.
    var rawBodies: [String] { bodies.value }

    /// Runs the receiver while `body` runs; `body` gets its base URL (`tracing.endpoint`).
    static func run<T: Sendable>(_ body: @Sendable (String, OTLPReceiver) async throws -> T) async throws -> T {
        let receiver = OTLPReceiver()
        let router = Router()
        router.post("/v1/traces") { request, _ -> Response in
            let bytes = try await request.body.collect(upTo: 16 << 20)
            let data = Data(bytes.readableBytesView)
            receiver.bodies.update { $0.append(String(decoding: data, as: UTF8.self)) }
            let spans = try Self.decode(data)
            receiver.received.update { $0 += spans }
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: "{}")))
        }
        return try await withLocalServer(router) { base in try await body(base, receiver) }
    }

    /// OTLP/JSON's ExportTraceServiceRequest; ids may come as hex or (protobuf JSON) base64.
    static func decode(_ data: Data) throws -> [Span] {
        let document = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        var spans: [Span] = []
        for resourceSpans in document["resourceSpans"] as? [[String: Any]] ?? [] {
            let resource = attributes((resourceSpans["resource"] as? [String: Any])?["attributes"])
            for scope in resourceSpans["scopeSpans"] as? [[String: Any]] ?? [] {
                for span in scope["spans"] as? [[String: Any]] ?? [] {
                    let links = (span["links"] as? [[String: Any]] ?? []).map { (hex($0["traceId"]), hex($0["spanId"])) }
                    spans.append(
                        Span(
                            traceID: hex(span["traceId"]),
                            spanID: hex(span["spanId"]),
                            parentSpanID: hex(span["parentSpanId"]),
                            name: span["name"] as? String ?? "",
                            kind: (span["kind"] as? Int) ?? Int(span["kind"] as? String ?? "") ?? 0,
                            attributes: attributes(span["attributes"]),
                            events: (span["events"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String },
                            links: links,
                            resource: resource
                        )
                    )
                }
            }
        }
        return spans
    }

    private static func attributes(_ value: Any?) -> [String: String] {
        var attributes: [String: String] = [:]
        for attribute in value as? [[String: Any]] ?? [] {
            guard let key = attribute["key"] as? String, let value = attribute["value"] as? [String: Any], let first = value.first else {
                continue
            }
            attributes[key] = "\(first.value)"
        }
        return attributes
    }

    private static func hex(_ value: Any?) -> String {
        guard let text = value as? String, !text.isEmpty else { return "" }
        if text.count % 2 == 0, text.utf8.allSatisfy({ Hex.isLowercaseDigit($0) }), text.count == 32 || text.count == 16 {
            return text
        }
        return Data(base64Encoded: text).map { Hex.encode($0) } ?? text
    }
}
