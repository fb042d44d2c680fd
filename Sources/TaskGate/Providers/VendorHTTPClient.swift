import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPCompression
import Tracing

/// The HTTP transport under a provider's `VendorChannel`: one request, one answer.
///
/// It bounds the time of each call and the size of each answer (inflated size too, when the
/// vendor gzips), turns transport failures into
/// `GatewayError`s, and records every call once — a debug log line (provider, call, duration,
/// outcome, the vendor's RequestId) and the vendor-call metrics — after the provider has read the
/// answer, so the outcome is the classified one.
public struct VendorHTTPClient: Sendable {
    let client: HTTPClient
    /// Largest vendor body read; beyond it the answer is a 502.
    public var maxBodyBytes: Int
    let metrics: GatewayMetrics?
    /// Reads how much of a call's deadline is left before each attempt.
    let clock: any GatewayClock

    public init(client: HTTPClient, maxBodyBytes: Int = 8 << 20, metrics: GatewayMetrics? = nil, clock: any GatewayClock) {
        self.client = client
        self.maxBodyBytes = maxBodyBytes
        self.metrics = metrics
        self.clock = clock
    }

    /// A vendor's answer: status, headers and the whole body, read up to `maxBodyBytes`.
    public struct Response: Sendable {
        public var status: Int
        public var headers: HTTPHeaders
        public var body: ByteBuffer

        /// Seconds the vendor asks to wait, 1…3600: `Retry-After`, else the vendor's own header
        /// (its error table names it).
        func retryAfter(vendorHeader: String?) -> Int? {
            (headers.first(name: "Retry-After") ?? vendorHeader.flatMap { headers.first(name: $0) })
                .flatMap { Int($0) }.map { max(1, min($0, 3600)) }
        }
    }

    /// Sends one request, reads the whole answer before `deadline`, and lets `interpret` classify it.
    /// - Parameters:
    ///   - call: the vendor's name for the call, for logs and metrics (`getTaskResult`).
    ///   - provider: the provider instance, for errors, logs and metrics.
    ///   - timeout: the configured time for the whole call, for the error message.
    ///   - interpret: reads the answer; returns the value and the vendor's request id, or throws
    ///     the classified error.
    public func exchange<Value>(
        _ request: HTTPClientRequest,
        call: String,
        provider: String,
        timeout: Duration,
        deadline: ContinuousClock.Instant,
        logger: Logger,
        span: (any Span)? = nil,
        interpret: (Response) throws(GatewayError) -> (value: Value, vendorRequestID: String?)
    ) async throws(GatewayError) -> Value {
        let started = ContinuousClock.now
        var vendorRequestID: String?
        var outcome = VendorCallOutcome.ok
        var status: Int?
        defer {
            let elapsed = ContinuousClock.now - started
            metrics?.vendorCall(provider: provider, call: call, outcome: outcome, duration: elapsed)
            span?.updateAttributes { attributes in
                if let status { attributes["http.response.status_code"] = status }
                if let vendorRequestID { attributes["taskgate.vendor.request_id"] = vendorRequestID }
                attributes["taskgate.vendor.outcome"] = outcome.rawValue
            }
            logger.debug(
                "vendor call",
                metadata: [
                    "provider": .string(provider), "call": .string(call), "outcome": .string(outcome.rawValue),
                    "duration_ms": .stringConvertible(Double(elapsed.nanoseconds / 1000) / 1000),
                    "vendor_request_id": .string(vendorRequestID ?? "-"),
                ]
            )
        }
        do throws(GatewayError) {
            let response = try await send(request, provider: provider, timeout: timeout, deadline: deadline, logger: logger)
            status = response.status
            let (value, requestID) = try interpret(response)
            vendorRequestID = requestID
            return value
        } catch {
            outcome = VendorCallOutcome(error)
            vendorRequestID = error.vendorRequestID
            throw error
        }
    }

    private func send(
        _ request: HTTPClientRequest,
        provider: String,
        timeout: Duration,
        deadline: ContinuousClock.Instant,
        logger: Logger
    ) async throws(GatewayError) -> Response {
        do {
            let left = deadline - clock.now
            guard left > .zero else { throw HTTPClientError.deadlineExceeded }
            // What is left of the deadline on the gateway's clock bounds the exchange on the wire.
            let response = try await client.execute(request, deadline: .now() + .nanoseconds(left.nanoseconds), logger: logger)
            let body = try await response.body.collect(upTo: maxBodyBytes)
            return Response(status: Int(response.status.code), headers: response.headers, body: body)
        } catch {
            throw Self.classify(error, provider: provider, timeout: timeout)
        }
    }

    static func classify(_ error: any Error, provider: String, timeout: Duration) -> GatewayError {
        if error is NIOTooManyBytesError || (error as? NIOHTTPDecompression.DecompressionError) == .limit {
            return GatewayError(.vendorBadAnswer, "The vendor's answer was larger than taskgate reads.", provider: provider)
        }
        if error is NIOHTTPDecompression.DecompressionError || error is NIOHTTPDecompression.ExtraDecompressionError {
            return GatewayError(.vendorBadAnswer, "The vendor's compressed answer could not be inflated.", provider: provider)
        }
        if let clientError = error as? HTTPClientError {
            // Nothing was sent on a connection that never opened: safe to try again.
            if clientError == .connectTimeout {
                return GatewayError(.vendorUnreachable, "The vendor did not accept a connection within connect_timeout.", provider: provider)
            }
            if [.deadlineExceeded, .readTimeout, .writeTimeout, .getConnectionFromPoolTimeout].contains(clientError) {
                return GatewayError(.vendorTimeout, "The vendor did not answer within \(timeout).", provider: provider)
            }
        }
        if error is CancellationError {
            return GatewayError(.vendorTimeout, "The vendor call was cancelled.", provider: provider)
        }
        return GatewayError(.vendorUnreachable, "taskgate could not reach the vendor.", provider: provider)
    }
}
