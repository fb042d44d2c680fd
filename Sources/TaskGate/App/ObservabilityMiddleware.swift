import HTTPTypes
import Hummingbird
import Logging

/// One access log line and the HTTP metrics per request.
struct ObservabilityMiddleware: RouterMiddleware {
    typealias Context = GatewayRequestContext
    let metrics: GatewayMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        let response = try await next(request, context)
        let elapsed = ContinuousClock.now - started
        metrics.httpRequest(route: context.endpointPath ?? "unmatched", status: Int(response.status.code), duration: elapsed)
        context.logger.info(
            "request",
            metadata: [
                "method": .string(request.method.rawValue),
                "path": .string(request.uri.path),
                "status": .stringConvertible(response.status.code),
                "bytes": .stringConvertible(response.body.contentLength ?? 0),
                "duration_ms": .stringConvertible(Double(elapsed.nanoseconds / 1000) / 1000),
                "cache": .string(response.headers[.xCache] ?? "-"),
                "client": .string(context.clientAddress ?? "-"),
                "forwarded_for": .string(request.headers[.xForwardedFor] ?? "-"),
            ]
        )
        return response
    }
}

extension HTTPField.Name {
    static let xForwardedFor = Self("X-Forwarded-For")!
}
