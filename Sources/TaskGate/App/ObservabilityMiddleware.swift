import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// One access log line and the HTTP metrics per request, counted for its caller (`Caller`:
/// authentication, further in, fills the slot).
struct ObservabilityMiddleware: RouterMiddleware {
    typealias Context = GatewayRequestContext
    let metrics: GatewayMetrics
    let accessLog: AccessLog

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        let caller = Caller.Slot()
        let response = try await Caller.$current.withValue(caller) { try await next(request, context) }
        accessLog.record(
            AccessLog.Line(
                requestID: .text(context.logger[metadataKey: "request_id"].map { "\($0)" } ?? "-"),
                method: request.method,
                path: request.uri.path,
                status: response.status,
                bytes: response.body.contentLength ?? 0,
                elapsed: ContinuousClock.now - started,
                cache: response.headers[.xCache],
                client: context.remoteAddress?.ipAddress,
                forwardedFor: request.headers[.xForwardedFor]
            ),
            route: metrics.route(context.endpointPath ?? "unmatched", caller: caller.name),
            logger: context.logger
        )
        return response
    }
}

extension HTTPField.Name {
    static let xForwardedFor = Self("X-Forwarded-For")!
}
