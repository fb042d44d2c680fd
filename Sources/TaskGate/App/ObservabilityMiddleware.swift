import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// One access log line and the HTTP metrics per request.
struct ObservabilityMiddleware: RouterMiddleware {
    typealias Context = GatewayRequestContext
    let metrics: GatewayMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        let response = try await next(request, context)
        AccessLog.record(
            logger: context.logger,
            route: metrics.route(context.endpointPath ?? "unmatched"),
            method: request.method,
            path: request.uri.path,
            status: response.status,
            bytes: response.body.contentLength ?? 0,
            elapsed: ContinuousClock.now - started,
            cache: response.headers[.xCache],
            client: context.remoteAddress,
            forwardedFor: request.headers[.xForwardedFor]
        )
        return response
    }
}

/// The access log line and HTTP metrics of one request, the same for the router and the hot path.
enum AccessLog {
    /// - Parameter requestID: for a logger that does not carry it already (the hot path's); only
    ///   made when the line is logged.
    static func record(
        logger: Logger,
        requestID: @autoclosure () -> String? = nil,
        route: GatewayMetrics.RouteMetrics,
        method: HTTPRequest.Method,
        path: String,
        status: HTTPResponse.Status,
        bytes: Int,
        elapsed: Duration,
        cache: String?,
        client: SocketAddress?,
        forwardedFor: String?
    ) {
        route.record(status: Int(status.code), duration: elapsed)
        logger.info(
            "request",
            metadata: [
                "request_id": requestID().map { .string($0) } ?? logger[metadataKey: "request_id"] ?? "-",
                "method": .string(method.rawValue),
                "path": .string(path),
                "status": .stringConvertible(status.code),
                "bytes": .stringConvertible(bytes),
                "duration_ms": .stringConvertible(Double(elapsed.nanoseconds / 1000) / 1000),
                "cache": .string(cache ?? "-"),
                "client": .string(client?.ipAddress ?? "-"),
                "forwarded_for": .string(forwardedFor ?? "-"),
            ]
        )
    }
}

extension HTTPField.Name {
    static let xForwardedFor = Self("X-Forwarded-For")!
}
