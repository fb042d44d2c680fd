import HTTPTypes
import Hummingbird
import Logging

/// Takes the caller's `X-Request-Id` (or makes one), puts it on every log line of the request,
/// and echoes it on the answer.
struct RequestIDMiddleware: RouterMiddleware {
    typealias Context = GatewayRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let id = request.headers[.xRequestID].flatMap(Self.acceptable) ?? Self.make()
        context.requestID = id
        context.logger[metadataKey: "request_id"] = .string(id)
        // One id per log line: Hummingbird's own connection-scoped id would only confuse.
        context.logger[metadataKey: "hb.request.id"] = nil
        var response = try await next(request, context)
        response.headers[.xRequestID] = id
        return response
    }

    /// A caller's id is kept when it is 1–200 visible ASCII characters; anything else could
    /// forge log lines, so it is replaced.
    static func acceptable(_ id: String) -> String? {
        guard (1...200).contains(id.utf8.count), id.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else { return nil }
        return id
    }

    /// 128 random bits, hex.
    static func make() -> String {
        let high = UInt64.random(in: .min ... .max)
        let low = UInt64.random(in: .min ... .max)
        let text = String(high, radix: 16) + String(low, radix: 16)
        return String(repeating: "0", count: max(0, 32 - text.count)) + text
    }
}
