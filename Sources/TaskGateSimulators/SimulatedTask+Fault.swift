import HTTPTypes
import Hummingbird
import NIOCore
import TaskGate

extension SimulatedTask.Step.Fault {
    /// How a misbehaving vendor answers: the HTTP faults the same for every vendor, the cut and
    /// padded answers in the vendor's own shape.
    /// - Parameter notFinal: the vendor's answer for a task still running (a JSON object).
    func response(notFinal: String) -> Response {
        switch self {
        case .http429:
            Response(
                status: .tooManyRequests,
                headers: [.retryAfter: "3", .contentType: "text/plain"],
                body: .init(byteBuffer: ByteBuffer(string: "Too Many Requests"))
            )
        case .http500: Response(status: .internalServerError, body: .init(byteBuffer: ByteBuffer(string: "Internal Server Error")))
        case .http502: Response(status: .badGateway, body: .init(byteBuffer: ByteBuffer(string: "<html><body>502 Bad Gateway</body></html>")))
        case .http503: Response(status: .serviceUnavailable, body: .init(byteBuffer: ByteBuffer(string: "Service Unavailable")))
        case .garbage: Self.json("<html><body>We are upgrading</body></html>")
        case .truncated: Self.json(String(notFinal.prefix(notFinal.count * 2 / 3)))
        case .reset:
            Response(
                status: .ok,
                headers: [.contentType: "application/json"],
                body: ResponseBody { _ in throw ConnectionDropped() }
            )
        case .oversized:
            Self.json(#"{"padding":""# + String(repeating: "x", count: 9 << 20) + #"","# + notFinal.dropFirst())
        case .gzipBomb:
            Response(
                status: .ok,
                headers: [.contentType: "application/json", .contentEncoding: "gzip"],
                body: .init(byteBuffer: Self.bomb)
            )
        }
    }

    /// Thrown by a response body to make the server drop the connection.
    struct ConnectionDropped: Error {}

    /// 64 MiB of spaces, gzipped once (about 64 KiB).
    private static let bomb: ByteBuffer = (try? Gzip.compress(ByteBuffer(repeating: 0x20, count: 64 << 20))) ?? ByteBuffer()

    /// HTTP 200 with a JSON content type, whatever the body really is.
    private static func json(_ text: String) -> Response {
        Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
