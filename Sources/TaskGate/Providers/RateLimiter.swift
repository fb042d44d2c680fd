import Synchronization

/// Keeps a provider under its vendor's request rate: at most `limit` calls in any sliding window
/// of `window`, so a vendor counting per second never sees more.
///
/// A caller over the rate waits for its slot when that is at most `maxWait` away; otherwise it
/// gets 503 + Retry-After at once and the vendor is not asked.
final class RateLimiter: Sendable {
    let limit: Int
    let window: Duration
    let maxWait: Duration
    /// Start times of the calls in the current window (some may lie in the near future).
    private let slots = Mutex<[ContinuousClock.Instant]>([])

    /// - Parameters:
    ///   - perSecond: the vendor's limit; the window carries a small guard for network jitter.
    init(perSecond: Int, maxWait: Duration) {
        self.limit = perSecond
        self.window = .milliseconds(1050)
        self.maxWait = maxWait
    }

    /// Reserves a slot and waits for it.
    /// - Throws: `vendor-throttled` (503) when the slot is further away than `maxWait`.
    func acquire(provider: String) async throws(GatewayError) {
        let now = ContinuousClock.now
        let start: ContinuousClock.Instant? = slots.withLock { slots in
            slots.removeAll { $0 + window <= now }
            let start = slots.count < limit ? now : max(now, slots[slots.count - limit] + window)
            guard start - now <= maxWait else { return nil }
            slots.append(start)
            slots.sort()
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
