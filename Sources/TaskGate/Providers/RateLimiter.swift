import Synchronization

/// Keeps a provider under its vendor's request rate by spacing calls evenly, one every
/// 1/rate seconds (no bursts): a vendor counting per second never sees more, even when requests
/// reach it a little later than they left.
///
/// A caller over the rate waits for its slot when that is at most `maxWait` away; otherwise it
/// gets 503 + Retry-After at once and the vendor is not asked.
final class RateLimiter: Sendable {
    let interval: Duration
    let maxWait: Duration
    /// When the next call may start.
    private let nextSlot = Mutex<ContinuousClock.Instant?>(nil)

    init(perSecond: Int, maxWait: Duration) {
        // A 10% margin absorbs jitter between here and the vendor's clock (and a busy host).
        self.interval = .nanoseconds(1_100_000_000 / Int64(max(perSecond, 1)))
        self.maxWait = maxWait
    }

    /// Reserves the next slot and waits for it.
    /// - Throws: `vendor-throttled` (503) when the slot is further away than `maxWait`.
    func acquire(provider: String) async throws(GatewayError) {
        let now = ContinuousClock.now
        let start: ContinuousClock.Instant? = nextSlot.withLock { next in
            let start = max(now, next ?? now)
            guard start - now <= maxWait else { return nil }
            next = start + interval
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
                try await Task.sleep(until: start, clock: .continuous)
            } catch {
                throw GatewayError(.vendorTimeout, "The request was cancelled while waiting for the vendor's rate limit.", provider: provider)
            }
        }
    }
}
