import HTTPTypes
import Hummingbird
import NIOCore

/// Refuses request targets longer than `limits.max_uri_length` (414) and paths not in canonical
/// form (400) before any work: the first check on the router's side, on the path it matches.
struct RequestTargetLimitMiddleware: RouterMiddleware {
    typealias Context = GatewayRequestContext
    let policy: RequestPolicy

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        try policy.checkTarget(request.uri.string, path: Substring(request.uri.path).utf8)
        return try await next(request, context)
    }
}
