import HTTPTypes
import Hummingbird

/// Caller authentication on the router's side (see `RequestPolicy.authenticate`): the matching
/// key's provider scope goes into the context; the task routes answer 403 outside it.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = GatewayRequestContext
    let policy: RequestPolicy

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let key = try policy.authenticate(path: request.uri.path, authorization: request.headers[.authorization]) else {
            return try await next(request, context)
        }
        Caller.current?.set(key.name)
        var context = context
        context.keyName = key.name
        context.allowedProviders = key.providers
        context.isAdmin = key.admin
        return try await next(request, context)
    }
}

extension GatewayRequestContext {
    /// Throws 403 when the caller's key does not cover `provider`.
    func requireAccess(to provider: String) throws(GatewayError) {
        try RequestPolicy.requireAccess(keyName: keyName, allowedProviders: allowedProviders, to: provider)
    }
}
