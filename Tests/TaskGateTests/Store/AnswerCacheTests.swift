import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import NIOCore
import NIOHTTP1
import TaskGate
import TaskGateSimulators
import Testing

@testable import TaskGate

/// The memory layer's single flight, looked at directly.
@Suite(.timeLimit(.minutes(2))) struct AnswerCacheTests {
    @Test func aCallerThatArrivesJustAfterALoadSharesItsAnswer() async throws {
        // A caller can miss the cache, read the store, and only then reach the single flight —
        // after another caller's load has finished. It must take that answer, not load again
        // (for CapMonster a second load would wait out the 2 s per-task spacing).
        let clock = ManualClock()
        let cache = AnswerCache(budget: 1 << 20, clock: clock)
        let key = AnswerCache.Key(provider: "capmonster", id: "1")
        let record = TaskRecord(provider: "capmonster", kind: "capmonster", id: "1", status: .running, fetchedAt: clock.date)
        let answer = try EncodedAnswer(record: record)
        let first = try await cache.load(key, policy: CachePolicy()) { () throws(GatewayError) in answer }
        #expect(first.coalesced == false)
        let second = try await cache.load(key, policy: CachePolicy()) { () throws(GatewayError) -> EncodedAnswer in
            Issue.record("loaded again while a fresh answer was held")
            return answer
        }
        #expect(second.coalesced == true)
        #expect(second.answer.validator == answer.bytes.validator)
    }

    /// Tasks polled for hours: every fresh not-final answer puts its key in the eviction clock
    /// again. The clock stays within a small multiple of the answers held (it grew by one key
    /// per vendor call, and past its bound every insert walked all of it under the lock).
    @Test func pollingTheSameTasksDoesNotGrowTheEvictionClock() async throws {
        let clock = ManualClock()
        let cache = AnswerCache(budget: 64 << 20, clock: clock)
        let answers = try (0..<50).map { index in
            try EncodedAnswer(
                record: TaskRecord(provider: "capmonster", kind: "capmonster", id: String(index), status: .running, fetchedAt: clock.date)
            )
        }
        var longest = 0
        for _ in 0..<200 {
            for (index, answer) in answers.enumerated() {
                let key = AnswerCache.Key(provider: "capmonster", id: String(index))
                let loaded = try await cache.load(key, policy: CachePolicy()) { () throws(GatewayError) in answer }
                #expect(loaded.coalesced == false)
            }
            longest = max(longest, cache.clockLength)
            clock.advance(by: .seconds(3))
        }
        #expect(longest <= 2 * 1024 + 1, "10,000 vendor answers for 50 tasks: \(longest) keys in the clock")
        #expect(cache.clockLength >= 50 && cache.clockLength <= 2 * 1024 + 1)
    }
}
