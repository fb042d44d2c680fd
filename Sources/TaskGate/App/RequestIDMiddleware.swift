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
        var generator = SystemRandomNumberGenerator()
        let words = (generator.next() as UInt64, generator.next() as UInt64)
        return String(unsafeUninitializedCapacity: 32) { buffer in
            let digits: StaticString = "0123456789abcdef"
            digits.withUTF8Buffer { digits in
                for index in 0..<16 {
                    let word = index < 8 ? words.0 : words.1
                    let byte = UInt8(truncatingIfNeeded: word >> (UInt64(index % 8) * 8))
                    buffer[index * 2] = digits[Int(byte >> 4)]
                    buffer[index * 2 + 1] = digits[Int(byte & 0xF)]
                }
            }
            return 32
        }
    }
}
