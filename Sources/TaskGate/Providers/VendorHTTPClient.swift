import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// The one HTTP client every provider uses to reach its vendor.
///
/// It bounds the time of each call and the size of each answer, and turns transport failures
/// into `GatewayError`s, so providers only classify what the vendor said.
public struct VendorHTTPClient: Sendable {
    let client: HTTPClient
    /// Largest vendor body read; beyond it the answer is a 502.
    public var maxBodyBytes: Int

    public init(client: HTTPClient, maxBodyBytes: Int = 8 << 20) {
        self.client = client
        self.maxBodyBytes = maxBodyBytes
    }

    /// A vendor's answer: status, headers and the whole body, read up to `maxBodyBytes`.
    public struct Response: Sendable {
        public var status: Int
        public var headers: HTTPHeaders
        public var body: ByteBuffer
    }

    /// Sends one request and reads the whole answer within `timeout`.
    /// - Parameters:
    ///   - call: the vendor's name for the call, for logs (`getTaskResult`).
    ///   - provider: the provider instance, for errors and logs.
    public func send(
        _ request: HTTPClientRequest,
        call: String,
        provider: String,
        timeout: Duration,
        logger: Logger
    ) async throws(GatewayError) -> Response {
        let started = ContinuousClock.now
        let deadline =
            NIODeadline.now() + .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000)
        do {
            let response = try await client.execute(request, deadline: deadline, logger: logger)
            let body = try await response.body.collect(upTo: maxBodyBytes)
            logger.debug(
                "vendor call",
                metadata: [
                    "provider": "\(provider)", "call": "\(call)", "http_status": "\(response.status.code)",
                    "duration_ms": "\(Self.milliseconds(since: started))",
                ]
            )
            return Response(status: Int(response.status.code), headers: response.headers, body: body)
        } catch {
            let failure = Self.classify(error, provider: provider, timeout: timeout)
            logger.warning(
                "vendor call failed",
                metadata: [
                    "provider": "\(provider)", "call": "\(call)", "outcome": "\(failure.kind.rawValue)",
                    "duration_ms": "\(Self.milliseconds(since: started))",
                ]
            )
            throw failure
        }
    }

    static func classify(_ error: any Error, provider: String, timeout: Duration) -> GatewayError {
        if error is NIOTooManyBytesError {
            return GatewayError(.vendorBadAnswer, "The vendor's answer was larger than taskgate reads.", provider: provider)
        }
        if let clientError = error as? HTTPClientError,
            [.deadlineExceeded, .readTimeout, .connectTimeout, .writeTimeout].contains(clientError)
        {
            return GatewayError(.vendorTimeout, "The vendor did not answer within \(timeout).", provider: provider)
        }
        if error is CancellationError {
            return GatewayError(.vendorTimeout, "The vendor call was cancelled.", provider: provider)
        }
        return GatewayError(.vendorUnreachable, "taskgate could not reach the vendor.", provider: provider)
    }

    private static func milliseconds(since start: ContinuousClock.Instant) -> Int64 {
        let elapsed = ContinuousClock.now - start
        return elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000
    }
}
