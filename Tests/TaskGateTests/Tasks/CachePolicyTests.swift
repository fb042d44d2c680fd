import Foundation
import Testing

@testable import TaskGate

/// The cache policy alone: every max-age, `Age` and stale decision taskgate makes comes from here.
struct CachePolicyTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func theVendorsPollingFloorRaisesTheTTLAndNeverLowersIt() throws {
        #expect(CachePolicy(statusTTL: .seconds(1), pollingFloor: .seconds(2)).statusTTL == .seconds(2))
        #expect(CachePolicy(statusTTL: .seconds(5), pollingFloor: .seconds(2)).statusTTL == .seconds(5))
        var capmonster = ProviderConfiguration(
            name: "c",
            endpoint: try #require(URL(string: "http://127.0.0.1:1")),
            vendor: CapMonsterSettings(clientKey: "k")
        )
        capmonster.statusTTL = .zero
        #expect(capmonster.cachePolicy.statusTTL == .seconds(2))
        let tencent = ProviderConfiguration(
            name: "t",
            endpoint: try #require(URL(string: "http://127.0.0.1:1")),
            vendor: TencentSettings(secretID: "id", secretKey: "key")
        )
        #expect(tencent.cachePolicy.statusTTL == .seconds(2))
    }

    @Test func aFinalAnswersFreshnessEndsTheMarginBeforeItsLinks() {
        let policy = CachePolicy(linkMargin: .seconds(300))
        #expect(policy.finalFreshness(linksExpireAt: nil, now: now) == .immutable)
        #expect(policy.finalFreshness(linksExpireAt: now.addingTimeInterval(3600.9), now: now) == .linked(maxAge: 3300))
        #expect(policy.finalFreshness(linksExpireAt: now.addingTimeInterval(301), now: now) == .linked(maxAge: 1))
        #expect(policy.finalFreshness(linksExpireAt: now.addingTimeInterval(300.5), now: now) == nil)
        #expect(policy.finalFreshness(linksExpireAt: now.addingTimeInterval(-10), now: now) == nil)
        // A link may claim any expiry: cached a year at most.
        #expect(policy.finalFreshness(linksExpireAt: .distantFuture, now: now) == .linked(maxAge: Freshness.year))
    }

    @Test func aNotFinalAnswerIsReusedForItsTTLRoundedUp() {
        let policy = CachePolicy(statusTTL: .seconds(2))
        let fetched = now.addingTimeInterval(-0.5)
        let expires = policy.expiry(fetchedAt: fetched, now: now)
        #expect(expires == fetched.addingTimeInterval(2))
        #expect(policy.notFinalFreshness(expires: expires, now: now) == .transient(maxAge: 2))
        #expect(policy.isFresh(fetchedAt: fetched, now: now))
        #expect(!policy.isFresh(fetchedAt: now.addingTimeInterval(-2), now: now))
        // A slow vendor call never caches an answer already expired.
        #expect(policy.expiry(fetchedAt: now.addingTimeInterval(-10), now: now) == now)
        #expect(policy.notFinalFreshness(expires: now.addingTimeInterval(-1), now: now) == .transient(maxAge: 0))
    }

    @Test func staleAnswersStandInOnlyWithinTheirWindows() {
        let off = CachePolicy(staleMax: .zero, staleWhileRevalidate: .zero)
        #expect(!off.mayServeStale(fetchedAt: now, now: now))
        #expect(!off.mayRevalidateInBackground(expires: now, now: now))
        let on = CachePolicy(staleMax: .seconds(60), staleWhileRevalidate: .seconds(5))
        #expect(on.mayServeStale(fetchedAt: now.addingTimeInterval(-60), now: now))
        #expect(!on.mayServeStale(fetchedAt: now.addingTimeInterval(-60.5), now: now))
        #expect(on.mayRevalidateInBackground(expires: now.addingTimeInterval(-5), now: now))
        #expect(!on.mayRevalidateInBackground(expires: now.addingTimeInterval(-5.5), now: now))
        // Still fresh: nothing to revalidate.
        #expect(!on.mayRevalidateInBackground(expires: now.addingTimeInterval(1), now: now))
    }

    @Test func ageIsWholeSecondsSinceTheVendorAnswered() {
        #expect(CachePolicy.age(fetchedAt: now.addingTimeInterval(-7.9), now: now) == 7)
        #expect(CachePolicy.age(fetchedAt: now.addingTimeInterval(3), now: now) == 0)
        #expect(CachePolicy.age(fetchedAt: .distantPast, now: now) > 0)
    }
}
