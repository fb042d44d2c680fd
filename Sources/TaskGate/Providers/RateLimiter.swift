import Foundation
import Synchronization

/// Keeps a vendor account under its vendor's request rate: a token bucket (`rate` tokens a
/// second, at most `burst` saved up), run as GCRA so it needs one timestamp and no refill timer.
///
/// With `burst` 1 calls are spaced evenly, one every 1/rate seconds: a vendor counting per
/// second never sees more, even when requests reach it a little later than they left. A caller
/// over the rate waits for its token when that is at most `maxWait` away; otherwise it gets
/// 503 + Retry-After at once and the vendor is not asked.
///
/// The bucket is this process's own, or — when replicas share a store — one row per vendor
/// account in it, so the rate is the cluster's (`RateSlotStore`).
final class RateLimiter: Sendable {
    /// Where the bucket's one timestamp is kept.
    enum Bucket: Sendable {
        case local(LocalBucket)
        /// In the shared store, under the vendor account's key.
        case shared(any RateSlotStore, account: String)
    }

    /// Time one token takes to come back.
    let interval: Duration
    /// How far ahead of now the bucket may be drawn: (burst − 1) tokens.
    let tolerance: Duration
    let maxWait: Duration
    let bucket: Bucket
    let clock: any GatewayClock

    init(perSecond: Int, burst: Int = 1, maxWait: Duration, bucket: Bucket = .local(LocalBucket()), clock: any GatewayClock) {
        // A 10% margin absorbs jitter between here and the vendor's clock (and a busy host, and
        // replicas' clocks a few milliseconds apart).
        interval = .nanoseconds(1_100_000_000 / Int64(max(perSecond, 1)))
        tolerance = interval * (max(burst, 1) - 1)
        self.maxWait = maxWait
        self.bucket = bucket
        self.clock = clock
    }

    /// Takes a token, waiting for it when it is at most `maxWait` away and before `deadline`.
    /// - Throws: `vendor-throttled` (503) when the next token is further away than that;
    ///   `store-unavailable` when a shared bucket cannot be reached.
    /// - Returns: how long it waited for the slot.
    @discardableResult
    func acquire(provider: String, deadline: ContinuousClock.Instant) async throws(GatewayError) -> Duration {
        guard let wait = try await takeSlot(deadline: deadline) else {
            throw GatewayError(
                .vendorThrottled,
                "taskgate is holding this provider under its vendor's rate limit.",
                provider: provider,
                vendorCode: "local rate limit",
                retryAfter: 1
            )
        }
        guard wait > .zero else { return .zero }
        do {
            try await clock.sleep(for: wait)
        } catch {
            throw GatewayError(.vendorTimeout, "The request was cancelled while waiting for the vendor's rate limit.", provider: provider)
        }
        return wait
    }

    /// How long until the slot taken may be used; nil (nothing taken) when that is more than
    /// `maxWait` away or not before `deadline`.
    private func takeSlot(deadline: ContinuousClock.Instant) async throws(GatewayError) -> Duration? {
        let now = clock.now
        switch bucket {
        case .local(let local):
            return local.fullAt.withLock { fullAt in
                let current = max(now, fullAt ?? now)
                let start = max(now, current - tolerance)
                guard start - now <= maxWait, start < deadline else { return nil }
                fullAt = current + interval
                return start - now
            }
        case .shared(let store, let account):
            let date = clock.date
            let latest = date.addingTimeInterval(min(maxWait, deadline - now - .nanoseconds(1)).seconds)
            guard latest >= date,
                let start = try await store.takeRateSlot(
                    account: account,
                    interval: interval.seconds,
                    tolerance: tolerance.seconds,
                    now: date,
                    latest: latest
                )
            else { return nil }
            return .nanoseconds(Seconds.whole(start.timeIntervalSince(date) * 1e9, rounding: .up))
        }
    }
}

/// A bucket in this process's memory.
final class LocalBucket: Sendable {
    /// GCRA's theoretical arrival time: when the bucket is full again.
    let fullAt = Mutex<ContinuousClock.Instant?>(nil)
    init() {}
}

/// A store that keeps vendor accounts' rate buckets for the replicas sharing it.
protocol RateSlotStore: Sendable {
    /// Takes the account's next request slot (GCRA: one slot every `interval` seconds, up to
    /// `tolerance` seconds of them ahead of now), atomically across replicas.
    /// - Returns: when the caller may send (at or after `now`); nil, and nothing taken, when
    ///   that would be after `latest`.
    func takeRateSlot(account: String, interval: Double, tolerance: Double, now: Date, latest: Date) async throws(GatewayError) -> Date?
}
