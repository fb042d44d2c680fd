import HTTPTypes
import Hummingbird
import NIOCore

/// Every route is read-only: HEAD is answered as GET without the body (Hummingbird's
/// `autoGenerateHeadEndpoints`), and any other method on a known path is 405 with `Allow`, as
/// RFC 9110 asks.
struct MethodMiddleware: RouterMiddleware {
    typealias Context = GatewayRequestContext
    static let allow = "GET, HEAD"

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.method != .get, request.method != .head, Self.isKnownPath(request.uri.path) else {
            return try await next(request, context)
        }
        throw MethodNotAllowed()
    }

    /// The paths of the API: `/tasks`, `/tasks/{provider}/{id}`, `/healthz`, `/readyz`, `/metrics`, `/openapi.yaml`.
    static func isKnownPath(_ path: String) -> Bool {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        if ["/tasks", "/healthz", "/readyz", "/metrics", "/openapi.yaml"].contains(path) { return true }
        return parts.count == 4 && parts[1] == "tasks" && !parts[2].isEmpty && !parts[3].isEmpty
    }
}

/// A method the route does not serve; becomes 405 problem+json with `Allow`.
struct MethodNotAllowed: Error {}
