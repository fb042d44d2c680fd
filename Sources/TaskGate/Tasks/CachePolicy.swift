import Foundation

/// How long one provider's answers are reused, and what may stand in while the vendor is slow or
/// failing: the whole cache policy in one value. Built once per provider from its configuration
/// (`ProviderConfiguration.cachePolicy`) and held by the service; the vendor adapters never see
/// it. Every `Cache-Control` max-age and `Age` taskgate sends is derived here.
struct CachePolicy: Sendable, Equatable {
    /// How long a not-final answer is reused before the vendor is asked again.
    var statusTTL: Duration
    /// How old an earlier not-final answer may be to stand in when the vendor fails.
    var staleMax: Duration
    /// How long past its TTL a not-final answer is still served while one vendor call asks again
    /// in the background (`X-Cache: UPDATING`).
    var staleWhileRevalidate: Duration
    /// How long before a final answer's signed links expire the vendor is asked for fresh ones.
    var linkMargin: Duration

    /// - Parameter pollingFloor: the least time the vendor allows between two requests about one
    ///   task (CapMonster's `min_poll_interval`): no not-final answer is reused for less.
    init(
        statusTTL: Duration = .seconds(2),
        staleMax: Duration = .seconds(60),
        staleWhileRevalidate: Duration = .zero,
        linkMargin: Duration = .seconds(300),
        pollingFloor: Duration = .zero
    ) {
        self.statusTTL = max(statusTTL, pollingFloor)
        self.staleMax = staleMax
        self.staleWhileRevalidate = staleWhileRevalidate
        self.linkMargin = linkMargin
    }

    /// A final answer's freshness at `now`; nil once its links are within the margin of expiring
    /// (or expired): time to ask the vendor for fresh ones.
    func finalFreshness(linksExpireAt: Date?, now: Date) -> Freshness? {
        guard let linksExpireAt else { return .immutable }
        let seconds = linksExpireAt.timeIntervalSince(now) - linkMargin.seconds
        // Rounded down: a cache must never hold the answer past the links; at most a year, as
        // long as an immutable answer (a link may claim any expiry).
        return seconds >= 1 ? .linked(maxAge: min(Seconds.whole(seconds), Freshness.year)) : nil
    }

    /// The freshness of a not-final answer reused until `expires`.
    func notFinalFreshness(expires: Date, now: Date) -> Freshness {
        .transient(maxAge: Self.secondsUntil(expires, from: now))
    }

    /// When a not-final answer stops being reused: `statusTTL` after the vendor gave it, but not
    /// in the past (a slow vendor call must not cache an expired answer).
    func expiry(fetchedAt: Date, now: Date) -> Date {
        max(fetchedAt.addingTimeInterval(statusTTL.seconds), now)
    }

    /// Whether an answer the vendor gave at `fetchedAt` is still within its TTL.
    func isFresh(fetchedAt: Date, now: Date) -> Bool {
        now.timeIntervalSince(fetchedAt) < statusTTL.seconds
    }

    /// Whether a not-final answer that `expires` may be served while the vendor is asked again.
    func mayRevalidateInBackground(expires: Date, now: Date) -> Bool {
        staleWhileRevalidate > .zero && expires <= now && now.timeIntervalSince(expires) <= staleWhileRevalidate.seconds
    }

    /// Whether an earlier not-final answer from `fetchedAt` may stand in for a failed vendor call.
    func mayServeStale(fetchedAt: Date, now: Date) -> Bool {
        staleMax > .zero && now.timeIntervalSince(fetchedAt) <= staleMax.seconds
    }

    /// The `Age` of an answer the vendor gave at `fetchedAt`, in whole seconds.
    static func age(fetchedAt: Date, now: Date) -> Int {
        max(0, Seconds.whole(now.timeIntervalSince(fetchedAt)))
    }

    /// Whole seconds from `now` until `date`, rounded up, never negative: a not-final answer's
    /// max-age.
    static func secondsUntil(_ date: Date, from now: Date) -> Int {
        max(0, Seconds.whole(date.timeIntervalSince(now), rounding: .up))
    }
}

extension Duration {
    var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
