import Foundation
import GRDB
import HTTPTypes
import HummingbirdTesting
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import TaskGate
import TaskGateSimulators
import Testing

@testable import TaskGate

/// The memory layer's single flight, looked at directly.
@Suite(.timeLimit(.minutes(2))) struct AnswerCacheTests {
    static let xCache = HTTPField.Name("X-Cache")!

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

    /// A gateway whose single-flight table the test can watch, in front of a simulator on the
    /// same clock: the vendor holds a delayed answer until the test moves the clock.
    func withWatchedGateway(
        _ body: @Sendable (any TestClientProtocol, RunningSimulator, AnswerCache, ManualClock) async throws -> Void
    ) async throws {
        let clock = ManualClock()
        try await withSimulator(CapMonsterSimulator(clientKey: testClientKey, state: SimulatorState(clock: clock))) { sim in
            let configuration = capMonsterConfiguration(endpoint: sim.endpoint, store: temporaryStorePath())
            let parts = try buildGateway(configuration, logger: quietLogger, clock: clock)
            try await parts.application.test(.router) { client in try await body(client, sim, parts.service.cache, clock) }
        }
    }

    @Test func concurrentRequestsForARunningTaskShareOneVendorCall() async throws {
        try await withWatchedGateway { client, sim, cache, clock in
            addTask(
                sim.state,
                id: "72",
                SimulatedTask.Step(answer: .state(.running, result: nil, errorCode: nil, errorMessage: nil), delayMilliseconds: 300)
            )
            let outcomes = try await withThrowingTaskGroup(of: (HTTPResponse.Status, String?, String?).self) { group in
                for _ in 0..<64 {
                    group.addTask {
                        let response = try await client.get("/tasks/capmonster/72")
                        return (response.status, response.headers[Self.xCache], response.headers[.cacheStatus])
                    }
                }
                // One caller asks the vendor, which holds its answer; the 63 others wait for it.
                #expect(await eventually { clock.sleepers == 1 && cache.waiters(for: .init(provider: "capmonster", id: "72")) == 63 })
                clock.advance(by: .milliseconds(300))
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(outcomes.count == 64)
            #expect(outcomes.allSatisfy { $0.0 == .ok })
            #expect(outcomes.filter { $0.1 == "MISS" }.count == 1)
            #expect(outcomes.filter { $0.1 == "COALESCED" }.count == 63)
            #expect(outcomes.filter { $0.2 == "taskgate; fwd=miss; collapsed; ttl=2" }.count == 63)
            #expect(sim.state.calls(for: "72")["getTaskResult"] == 1)
        }
    }

    @Test func concurrentRequestsShareAFailureToo() async throws {
        try await withWatchedGateway { client, sim, cache, clock in
            addTask(sim.state, id: "73", SimulatedTask.Step(answer: .fault(.http503), delayMilliseconds: 300))
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for _ in 0..<16 { group.addTask { try await client.get("/tasks/capmonster/73").status } }
                #expect(await eventually { clock.sleepers == 1 && cache.waiters(for: .init(provider: "capmonster", id: "73")) == 15 })
                clock.advance(by: .milliseconds(300))
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.allSatisfy { $0 == .badGateway })
            #expect(sim.state.calls(for: "73")["getTaskResult"] == 1)
        }
    }

    @Test func aNotFinalAnswerIsReusedForItsTTLThenAskedAgain() async throws {
        let clock = ManualClock()
        try await withCapMonsterGateway(statusTTL: .seconds(3), clock: clock) { client, sim in
            addTask(sim.state, id: "74", .state(.running, polls: 1), .state(.succeeded))
            #expect(try await client.get("/tasks/capmonster/74").headers[Self.xCache] == "MISS")
            #expect(try await client.get("/tasks/capmonster/74").headers[Self.xCache] == "HIT")
            clock.advance(by: .milliseconds(2500))
            #expect(try await client.get("/tasks/capmonster/74").headers[Self.xCache] == "HIT")
            #expect(sim.state.calls(for: "74")["getTaskResult"] == 1)
            clock.advance(by: .milliseconds(600))
            let after = try await client.get("/tasks/capmonster/74")
            #expect(after.headers[Self.xCache] == "MISS")
            #expect(try after.json()["status"] as? String == "succeeded")
            #expect(sim.state.calls(for: "74")["getTaskResult"] == 2)
        }
    }

    @Test(arguments: [(64 << 20, true), (0, false)])
    func storedFinalAnswersAreKeptInMemoryWithinTheBudget(budget: Int, keptInMemory: Bool) async throws {
        let store = temporaryStorePath()
        try await withSimulator(CapMonsterSimulator(clientKey: testClientKey)) { sim in
            addTask(sim.state, id: "75", .state(.succeeded))
            var configuration = gatewayConfiguration(
                store: store,
                provider("capmonster", endpoint: sim.endpoint, CapMonsterSettings(clientKey: testClientKey))
            )
            configuration.cacheMemoryBytes = budget
            try await buildApplication(configuration, logger: quietLogger).test(.router) { client in
                _ = try await client.get("/tasks/capmonster/75")
            }
            // A new process: memory is empty, the answer is in the store.
            try await buildApplication(configuration, logger: quietLogger).test(.router) { client in
                #expect(try await client.get("/tasks/capmonster/75").headers[Self.xCache] == "HIT")
                try await DatabaseQueue(path: store).write { db in try db.execute(sql: "DROP TABLE task") }
                let again = try await client.get("/tasks/capmonster/75", [.acceptEncoding: "gzip"])
                #expect(again.status == (keptInMemory ? .ok : .serviceUnavailable))
            }
            #expect(sim.state.calls(for: "75")["getTaskResult"] == 1)
        }
    }
}
