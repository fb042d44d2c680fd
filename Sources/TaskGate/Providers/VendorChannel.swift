import AsyncHTTPClient
import Foundation
import Logging
import Tracing

/// One provider's way to its vendor: every vendor request of that provider goes through here,
/// so the per-task budget, the rate limit, the circuit breaker and the retries apply to all of
/// them alike.
///
/// A call has one deadline (the provider's `timeout`) covering every attempt and every wait;
/// transient failures (connection errors, 5xx, throttling) are retried with exponential backoff
/// and full jitter, never sooner than the vendor's Retry-After, and each attempt builds — and so
/// signs — its request afresh. A request refused for its one-time parts (a nonce the vendor saw
/// before: `signAgain` in its error table) is signed anew and sent once more at once.
///
/// Traced, a call is one CLIENT span (child of the request or background work that made it):
/// each attempt and retry an event, a wait for a rate token a span of its own.
public struct VendorChannel: Sendable {
    let http: VendorHTTPClient
    let provider: String
    let timeout: Duration
    let retry: RetryPolicy
    let limiter: RateLimiter
    let breaker: CircuitBreaker
    /// Vendor requests allowed per task, counted in the store (CapMonster); nil: no budget.
    let budget: TaskCallBudget?
    let metrics: GatewayMetrics?
    let tracer: GatewayTracer?
    let clock: any GatewayClock

    /// Makes vendor requests until one is answered, a permanent error comes back, the retries
    /// are spent or the deadline would pass.
    /// - Parameters:
    ///   - call: the vendor's name for the call (`GetTaskResult`), for logs and metrics.
    ///   - task: the task id to count against the per-task budget, when the call is about one task.
    ///   - request: builds one attempt's request; called again for every attempt (fresh signature).
    ///   - interpret: reads an answer into a value or a classified error.
    func exchange<Value>(
        call: String,
        task: String? = nil,
        logger: Logger,
        request: () -> HTTPClientRequest,
        interpret: (VendorHTTPClient.Response) throws(GatewayError) -> (value: Value, vendorRequestID: String?)
    ) async throws(GatewayError) -> Value {
        guard let span = tracer?.startSpan("\(provider) \(call)", kind: .client) else {
            return try await attempts(call: call, task: task, span: nil, logger: logger, request: request, interpret: interpret)
        }
        span.updateAttributes { attributes in
            attributes["taskgate.provider"] = provider
            attributes["taskgate.vendor.call"] = call
            if let task { attributes["taskgate.task.id"] = task }
        }
        defer { span.end() }
        let result = await ServiceContext.withValue(span.context) { () async -> Result<Value, GatewayError> in
            do throws(GatewayError) {
                return .success(try await attempts(call: call, task: task, span: span, logger: logger, request: request, interpret: interpret))
            } catch {
                return .failure(error)
            }
        }
        switch result {
        case .success(let value):
            return value
        case .failure(let error):
            span.updateAttributes { attributes in
                attributes["error.type"] = error.kind.rawValue
                if let code = error.vendorCode { attributes["taskgate.vendor.code"] = code }
                if let id = error.vendorRequestID { attributes["taskgate.vendor.request_id"] = id }
            }
            span.setStatus(SpanStatus(code: .error))
            throw error
        }
    }

    private func attempts<Value>(
        call: String,
        task: String?,
        span: (any Span)?,
        logger: Logger,
        request: () -> HTTPClientRequest,
        interpret: (VendorHTTPClient.Response) throws(GatewayError) -> (value: Value, vendorRequestID: String?)
    ) async throws(GatewayError) -> Value {
        let deadline = clock.now + timeout
        var attempt = 0
        var signedAgain = false
        while true {
            attempt += 1
            if let budget, let task {
                try await budget.spend(task: task, deadline: deadline, logger: logger)
            }
            do throws(GatewayError) {
                let waitStart = span.map { _ in DefaultTracerClock.now }
                let waited = try await limiter.acquire(provider: provider, deadline: deadline)
                if waited > .zero, let waitStart, let wait = tracer?.startSpan("rate limit wait", at: waitStart) {
                    wait.attributes["taskgate.provider"] = provider
                    wait.end()
                }
            } catch {
                if error.kind == .vendorThrottled { metrics?.vendorCallRefused(provider: provider, reason: "rate_limit") }
                throw error
            }
            let admission: CircuitBreaker.Admission
            do throws(GatewayError) {
                admission = try breaker.admit()
            } catch {
                metrics?.vendorCallRefused(provider: provider, reason: "circuit_open")
                throw error
            }
            span?.addEvent(SpanEvent(name: "attempt", attributes: ["taskgate.vendor.attempt": .int64(Int64(attempt))]))
            do throws(GatewayError) {
                let value = try await http.exchange(
                    request(),
                    call: call,
                    provider: provider,
                    timeout: timeout,
                    deadline: deadline,
                    logger: logger,
                    span: span,
                    interpret: interpret
                )
                breaker.recordSuccess()
                return value
            } catch {
                if error.kind.handling.countsAgainstVendor { breaker.recordFailure() } else { breaker.recordSuccess() }
                if error.kind == .taskBudgetExhausted, let budget, let task {
                    await budget.markSpentByVendor(task: task, logger: logger)
                }
                if error.signAgain, !signedAgain, admission == .admitted {
                    // Not a retry: the vendor refused this signature, not the call.
                    (signedAgain, attempt) = (true, attempt - 1)
                    span?.addEvent(SpanEvent(name: "sign again", attributes: ["taskgate.vendor.code": .string(error.vendorCode ?? "-")]))
                    logger.warning("vendor refused a one-time signature; signing again", metadata: ["provider": "\(provider)", "call": "\(call)"])
                    continue
                }
                guard admission == .admitted, attempt <= retry.retries, error.kind.handling.retried else { throw error }
                let delay = retry.delay(beforeRetry: attempt, vendorAsked: error.retryAfter)
                guard clock.now + delay < deadline else { throw error }
                metrics?.vendorRetry(provider: provider, call: call)
                span?.addEvent(
                    SpanEvent(
                        name: "retry",
                        attributes: [
                            "error.type": .string(error.kind.rawValue),
                            "taskgate.vendor.retry_delay_ms": .int64(delay.nanoseconds / 1_000_000),
                        ]
                    )
                )
                logger.debug(
                    "retrying vendor call",
                    metadata: [
                        "provider": .string(provider), "call": .string(call), "problem": .string(error.kind.rawValue),
                        "attempt": .stringConvertible(attempt + 1), "delay_ms": .stringConvertible(delay.nanoseconds / 1_000_000),
                    ]
                )
                do {
                    try await clock.sleep(for: delay)
                } catch {
                    throw GatewayError(.vendorTimeout, "The vendor call was cancelled.", provider: provider)
                }
            }
        }
    }
}

/// How transient vendor failures are retried: up to `retries` more attempts, the n-th after a
/// random delay in [0, min(maxDelay, base × 2ⁿ⁻¹)] ("full jitter"), or the vendor's Retry-After
/// when that is longer.
struct RetryPolicy: Sendable {
    var retries: Int
    var base: Duration
    var maxDelay: Duration

    func delay(beforeRetry retry: Int, vendorAsked seconds: Int?) -> Duration {
        let ceiling = min(maxDelay, base * (1 << min(retry - 1, 20)))
        let jitter = Duration.nanoseconds(Int64.random(in: 0...max(ceiling.nanoseconds, 0)))
        guard let seconds else { return jitter }
        return max(jitter, .seconds(seconds))
    }
}
