import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

/// `/healthz`, `/readyz`, `/metrics` and `/openapi.yaml`.
struct OperationsController: Sendable {
    let service: TaskService
    let feed: EventFeed
    let store: any StoreHealth
    let readiness: Readiness
    let metrics: GatewayMetrics
    /// Where the logger's lines are buffered (JSON format), for its dropped-line count.
    let logSink: LogSink?

    func addRoutes(to router: Router<GatewayRequestContext>) {
        router.get("/healthz") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "application/json", .cacheControl: "no-store"],
                body: .init(byteBuffer: ByteBuffer(string: #"{"status":"ok"}"#))
            )
        }
        router.get("/readyz") { _, _ in
            if readiness.isShuttingDown {
                throw GatewayError(.shuttingDown, "taskgate is shutting down; send work elsewhere.", retryAfter: 5)
            }
            try await store.checkReadable()
            return Response(
                status: .ok,
                headers: [.contentType: "application/json", .cacheControl: "no-store"],
                body: .init(byteBuffer: ByteBuffer(string: #"{"status":"ready"}"#))
            )
        }
        router.get("/metrics") { _, _ in
            if let statistics = try? await store.statistics() {
                metrics.store(statistics)
            }
            metrics.longPolls(service.longPolls.load(ordering: .relaxed))
            metrics.eventStreams(feed.streams)
            metrics.logLinesDropped(total: logSink?.droppedLines ?? 0)
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8", .cacheControl: "no-store"],
                body: .init(byteBuffer: ByteBuffer(bytes: metrics.render()))
            )
        }
        let specification = OpenAPIDocument.bytes
        router.get("/openapi.yaml") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "application/yaml", .cacheControl: "public, max-age=300"],
                body: .init(byteBuffer: specification)
            )
        }
    }
}

/// The OpenAPI document shipped with the binary (openapi/openapi.yaml), read once.
enum OpenAPIDocument {
    static let bytes: ByteBuffer = {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml"),
            let data = try? Data(contentsOf: url)
        else { return ByteBuffer(string: "openapi: 3.1.0\n") }
        return ByteBuffer(bytes: data)
    }()
}
