import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTPCompression

/// Turning a validated provider configuration into a running provider: its own HTTP client, the
/// vendor channel (retries, rate limit, circuit breaker) and the kind's provider on top.
extension ProviderConfiguration {
    /// Builds the provider and the HTTP client it owns (its own pool, connect timeout and body
    /// bound); the caller shuts the client down. The configuration was validated when loaded.
    public func makeProvider(
        store: any VendorBudgetStore,
        metrics: GatewayMetrics?,
        tracer: GatewayTracer? = nil,
        logger: Logger,
        clock: any GatewayClock
    ) -> (provider: any Provider, client: HTTPClient) {
        var clientConfiguration = HTTPClient.Configuration()
        // The client's own spans would carry the signed URL (`url.full`): taskgate makes its own.
        clientConfiguration.tracing.tracer = nil
        // Vendors that gzip are inflated with the same bound as plain answers.
        clientConfiguration.decompression = .enabled(limit: .size(maxBodyBytes))
        clientConfiguration.redirectConfiguration = .disallow
        clientConfiguration.timeout.connect = .nanoseconds(connectTimeout.nanoseconds)
        // A failed connection attempt fails the call at once, so `connect_timeout` bounds it and
        // the retry policy (backoff, fresh signature, circuit breaker) decides what comes next;
        // the client would otherwise keep reconnecting until the call's whole deadline had passed.
        clientConfiguration.connectionPool.retryConnectionEstablishment = false
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
        let breaker = CircuitBreaker(provider: name, threshold: circuitFailures, openFor: circuitOpen, clock: clock) { [name, circuitOpen] state in
            metrics?.circuit(provider: name, state: state)
            switch state {
            case .open:
                logger.warning("circuit opened: vendor calls suspended", metadata: ["provider": "\(name)", "open_for": "\(circuitOpen)"])
            case .halfOpen:
                logger.notice("circuit half-open: probing the vendor", metadata: ["provider": "\(name)"])
            case .closed:
                logger.notice("circuit closed: vendor answering again", metadata: ["provider": "\(name)"])
            }
        }
        metrics?.circuit(provider: name, state: breaker.current)
        let channel = VendorChannel(
            http: VendorHTTPClient(client: client, maxBodyBytes: maxBodyBytes, metrics: metrics, clock: clock),
            provider: name,
            timeout: timeout,
            retry: RetryPolicy(retries: retries, base: retryBackoff, maxDelay: retryBackoffMax),
            limiter: RateLimiter(perSecond: rateLimit, burst: rateBurst, maxWait: rateLimitWait, bucket: rateBucket(in: store), clock: clock),
            breaker: breaker,
            budget: vendor.perTaskLimit.map { limit in
                TaskCallBudget(
                    provider: name,
                    account: accountKey,
                    limit: limit.requests,
                    spacing: limit.spacing,
                    store: store,
                    clock: clock,
                    metrics: metrics
                )
            },
            metrics: metrics,
            tracer: tracer,
            clock: clock
        )
        let environment = ProviderEnvironment(vendor: channel, metrics: metrics, clock: clock)
        return (vendor.makeProvider(self, environment: environment), client)
    }

    /// Replicas sharing a store share each vendor account's rate; one process keeps its own.
    private func rateBucket(in store: any VendorBudgetStore) -> RateLimiter.Bucket {
        if let slots = store as? any RateSlotStore { .shared(slots, account: accountKey) } else { .local(LocalBucket()) }
    }
}
