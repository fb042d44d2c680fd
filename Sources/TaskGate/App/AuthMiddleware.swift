import HTTPTypes
import Hummingbird

/// Caller authentication: `Authorization: Bearer <key>` on `/tasks` (and on `/metrics` when
/// configured so). The matching key's provider scope goes into the context; the task routes
/// answer 403 outside it. Health, readiness and the API description stay open.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = GatewayRequestContext
    let auth: AuthConfiguration
    let metrics: GatewayMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        let isTasks = path == "/tasks" || path.hasPrefix("/tasks/")
        let isMetrics = path == "/metrics"
        guard isTasks || (isMetrics && auth.metricsRequiresKey) else { return try await next(request, context) }
        guard let header = request.headers[.authorization] else {
            metrics.authRefused(reason: "missing")
            throw GatewayError(.unauthorized, "This route needs Authorization: Bearer <key>.")
        }
        guard let key = auth.key(forAuthorization: header) else {
            metrics.authRefused(reason: "invalid")
            throw GatewayError(.unauthorized, "The API key is not known.")
        }
        if isMetrics, !key.metrics {
            metrics.authRefused(reason: "forbidden")
            throw GatewayError(.forbidden, "Key \(key.name) may not read metrics.")
        }
        var context = context
        context.keyName = key.name
        context.allowedProviders = key.providers
        return try await next(request, context)
    }
}

extension GatewayRequestContext {
    /// Throws 403 when the caller's key does not cover `provider`.
    func requireAccess(to provider: String) throws(GatewayError) {
        guard let allowedProviders, !allowedProviders.contains(provider) else { return }
        throw GatewayError(.forbidden, "Key \(keyName ?? "?") does not cover provider \(provider).", provider: provider)
    }
}
