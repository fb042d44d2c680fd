import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Tracing

/// One access log line, the HTTP metrics and, when tracing is on, a SERVER span per request,
/// counted for its caller (`Caller`: authentication, further in, fills the slot). Vendor calls
/// made for the request are child spans of it.
struct ObservabilityMiddleware: RouterMiddleware {
    typealias Context = GatewayRequestContext
    let metrics: GatewayMetrics
    let accessLog: AccessLog
    let tracer: GatewayTracer?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        let caller = Caller.Slot()
        let route = context.endpointPath
        let span = tracer?.startSpan(
            ServerSpan.name(method: request.method, route: route),
            kind: .server,
            parentIn: request.headers,
            using: HTTPFieldsExtractor()
        )
        let response: Response
        do {
            // A trace not kept: nothing the request does starts one.
            let traceContext = span?.context ?? (tracer == nil ? ServiceContext.current : GatewayTracer.unsampled)
            response = try await ServiceContext.withValue(traceContext) {
                try await Caller.$current.withValue(caller) { try await next(request, context) }
            }
        } catch {
            span?.recordError(error)
            span?.end()
            throw error
        }
        var trace: TraceIDs?
        if let span, let tracer {
            ServerSpan.describe(
                span,
                method: request.method,
                path: request.uri.path,
                route: route,
                status: response.status,
                server: request.head.authority ?? request.headers[.host],
                client: context.remoteAddress?.ipAddress,
                provider: context.parameters.get("provider"),
                cache: response.headers[.xCache],
                caller: caller.name
            )
            trace = tracer.ids(of: span)
            span.end()
        }
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
                forwardedFor: request.headers[.xForwardedFor],
                trace: trace
            ),
            route: metrics.route(route ?? "unmatched", caller: caller.name),
            logger: context.logger
        )
        return response
    }
}

extension HTTPField.Name {
    static let xForwardedFor = Self("X-Forwarded-For")!
    static let host = Self("Host")!
}
