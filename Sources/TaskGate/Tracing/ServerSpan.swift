import HTTPTypes
import Tracing

/// A request's SERVER span as both doors describe it: named by its route, with the HTTP
/// semantic conventions and what taskgate knows of the answer.
enum ServerSpan {
    /// `GET /tasks/{provider}/{id}`; the method alone when no route matched (the conventions'
    /// rule: never a raw path, which would make every span name unique).
    static func name(method: HTTPRequest.Method, route: String?) -> String {
        route.map { "\(method.rawValue) \($0)" } ?? method.rawValue
    }

    static func describe(
        _ span: any Span,
        method: HTTPRequest.Method,
        path: String,
        route: String?,
        status: HTTPResponse.Status,
        server: String?,
        client: String?,
        provider: String?,
        cache: String?,
        caller: String
    ) {
        // A span not sampled keeps nothing: its attributes are not even made.
        guard span.isRecording else { return }
        span.updateAttributes { attributes in
            attributes["http.request.method"] = method.rawValue
            attributes["url.path"] = path
            if let route { attributes["http.route"] = route }
            attributes["http.response.status_code"] = Int(status.code)
            if let server { attributes["server.address"] = server }
            if let client { attributes["client.address"] = client }
            if let provider { attributes["taskgate.provider"] = provider }
            if let cache { attributes["taskgate.cache"] = cache }
            attributes["taskgate.caller"] = caller
        }
        // Server spans mark 5xx only: a 4xx is the caller's mistake, not the server's.
        if status.code >= 500 { span.setStatus(SpanStatus(code: .error)) }
    }
}
