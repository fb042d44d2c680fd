import Testing

@testable import TaskGate

/// RFC 9211 `Cache-Status` for every `X-Cache` outcome.
struct CacheStatusTests {
    @Test(
        arguments: [
            (TaskService.CacheOutcome.hit, Freshness.immutable, "taskgate; hit"),
            (.hit, .transient(maxAge: 4), "taskgate; hit; ttl=4"),
            (.hit, .linked(maxAge: 3000), "taskgate; hit; ttl=3000"),
            (.miss, .immutable, "taskgate; fwd=miss; stored"),
            (.miss, .transient(maxAge: 2), "taskgate; fwd=miss; stored; ttl=2"),
            (.miss, .transient(maxAge: 0), "taskgate; fwd=miss; ttl=0"),
            (.coalesced, .transient(maxAge: 2), "taskgate; fwd=miss; collapsed; ttl=2"),
            (.refresh, .linked(maxAge: 600), "taskgate; fwd=stale; stored; ttl=600"),
            (.stale, .transient(maxAge: 0), "taskgate; fwd=stale; detail=vendor-failed"),
            (.updating, .transient(maxAge: 0), "taskgate; hit; detail=updating"),
        ] as [(TaskService.CacheOutcome, Freshness, String)]
    )
    func eachOutcomeHasItsValue(outcome: TaskService.CacheOutcome, freshness: Freshness, expected: String) {
        #expect(CacheStatus.value(outcome, freshness) == expected)
    }
}
