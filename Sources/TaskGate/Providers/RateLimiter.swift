import Synchronization

/// Keeps a provider under its vendor's request rate: a token bucket (`rate` tokens a second,
/// at most `burst` saved up), run as GCRA so it needs one timestamp and no refill timer.
///
/// With `burst` 1 calls are spaced evenly, one every 1/rate seconds: a vendor counting per
/// second never sees more, even when requests reach it a little later than they left. A caller
/// over the rate waits for its token when that is at most `maxWait` away; otherwise it gets
/// 503 + Retry-After at once and the vendor is not asked.
final class RateLimiter: Sendable {
    /// Time one token takes to come back.
    let interval: Duration
    /// How far ahead of now the bucket may be drawn: (burst − 1) tokens.
    let tolerance: Duration
    let maxWait: Duration
    let clock: any GatewayClock
    /// GCRA's theoretical arrival time: when the bucket is full again.
    private let fullAt = Mutex<ContinuousClock.Instant?>(nil)

    init(perSecond: Int, burst: Int = 1, maxWait: Duration, clock: any GatewayClock) {
        // A 10% margin absorbs jitter between here and the vendor's clock (and a busy host).
        interval = .nanoseconds(1_100_000_000 / Int64(max(perSecond, 1)))
        tolerance = interval * (max(burst, 1) - 1)
        self.maxWait = maxWait
        self.clock = clock
    }

    /// Takes a token, waiting for it when it is at most `maxWait` away and before `deadline`.
    /// - Throws: `vendor-throttled` (503) when the next token is further away than that.
    func acquire(provider: String, deadline: ContinuousClock.Instant) async throws(GatewayError) {
        let now = clock.now
        let start: ContinuousClock.Instant? = fullAt.withLock { fullAt in
            let current = max(now, fullAt ?? now)
            let start = max(now, current - tolerance)
            guard start - now <= maxWait, start < deadline else { return nil }
            fullAt = current + interval
            return start
        }
        guard let start else {
            throw GatewayError(
                .vendorThrottled,
                "taskgate is holding this provider under its vendor's rate limit.",
                provider: provider,
                vendorCode: "local rate limit",
                retryAfter: 1
            )
        }
        if start > now {
            do {
                try await clock.sleep(until: start)
            } catch {
                throw GatewayError(.vendorTimeout, "The request was cancelled while waiting for the vendor's rate limit.", provider: provider)
            }
        }
    }
}
