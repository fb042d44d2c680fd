import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// Takes the caller's `X-Request-Id` (or makes one), puts it on every log line of the request,
/// and echoes it on the answer.
struct RequestIDMiddleware: RouterMiddleware {
    typealias Context = GatewayRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let id = request.headers[.xRequestID].flatMap(RequestPolicy.acceptableRequestID) ?? Self.make()
        context.requestID = id
        context.logger[metadataKey: "request_id"] = .string(id)
        // One id per log line: Hummingbird's own connection-scoped id would only confuse.
        context.logger[metadataKey: "hb.request.id"] = nil
        var response = try await next(request, context)
        response.headers[.xRequestID] = id
        return response
    }

    /// 128 random bits, hex.
    static func make() -> String {
        var generator = RequestIDGenerator()
        return generator.next().text
    }
}

/// Request ids: 128 bits from a SplitMix64 stream seeded from the system's generator, so making
/// one costs no system call (the hot path makes one per connection and draws an id per request).
/// Ids need to be unique, not secret.
struct RequestIDGenerator {
    private var state: UInt64

    init() {
        var system = SystemRandomNumberGenerator()
        state = system.next()
    }

    mutating func next() -> RequestID {
        RequestID(high: nextWord(), low: nextWord())
    }

    private mutating func nextWord() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A request id taskgate made: 32 hex digits, written straight into an answer by the hot path.
struct RequestID {
    let high: UInt64
    let low: UInt64

    var text: String {
        String(unsafeUninitializedCapacity: 32) { buffer in
            write(into: UnsafeMutableRawBufferPointer(buffer))
            return 32
        }
    }

    func write(into buffer: inout ByteBuffer) {
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 32) { out in
            write(into: out)
            return 32
        }
    }

    func write(into bytes: inout [UInt8]) {
        let start = bytes.count
        bytes.append(contentsOf: repeatElement(0, count: 32))
        bytes.withUnsafeMutableBytes { write(into: UnsafeMutableRawBufferPointer(rebasing: $0[start...])) }
    }

    private func write(into out: UnsafeMutableRawBufferPointer) {
        Hex.write(high, low, into: out)
    }
}
