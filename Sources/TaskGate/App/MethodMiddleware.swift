import HTTPTypes
import Hummingbird
import NIOCore

/// Each route answers its methods only: the read routes GET and HEAD (HEAD is GET without the
/// body, Hummingbird's `autoGenerateHeadEndpoints`), the webhook admin actions POST. Any other
/// method on a known path is 405 with `Allow`, as RFC 9110 asks.
struct MethodMiddleware: RouterMiddleware {
    typealias Context = GatewayRequestContext
    static let allow = "GET, HEAD"

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let allowed = Self.allowedMethods(request.uri.path) else { return try await next(request, context) }
        let method = request.method == .head ? HTTPRequest.Method.get : request.method
        guard allowed.contains(method) else { throw MethodNotAllowed(allow: allowed.map(\.rawValue).joined(separator: ", ")) }
        return try await next(request, context)
    }

    /// The methods a path of the API answers (GET standing for GET and HEAD); nil for a path
    /// that is none of the API's: `/tasks`, `/tasks/{provider}/{id}`, `/events`,
    /// `/webhooks/{name}/deliveries`, `…/deliveries/{id}/retry`, `/webhooks/{name}/replay`,
    /// `/healthz`, `/readyz`, `/metrics`, `/openapi.yaml`.
    static func allowedMethods(_ path: String) -> [HTTPRequest.Method]? {
        if ["/tasks", "/events", "/healthz", "/readyz", "/metrics", "/openapi.yaml"].contains(path) { return [.get, .head] }
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        guard parts.count >= 3, !parts.contains(where: \.isEmpty) else { return nil }
        let segments = Array(parts)
        switch (segments[0], segments.count) {
        case ("tasks", 3): return [.get, .head]
        case ("webhooks", 3) where segments[2] == "deliveries": return [.get, .head]
        case ("webhooks", 3) where segments[2] == "replay": return [.post]
        case ("webhooks", 5) where segments[2] == "deliveries" && segments[4] == "retry": return [.post]
        default: return nil
        }
    }
}

/// A method the route does not serve; becomes 405 problem+json with `Allow`.
struct MethodNotAllowed: Error {
    var allow: String
}
