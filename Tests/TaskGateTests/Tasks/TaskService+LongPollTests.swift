import AsyncHTTPClient
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Synchronization
import TaskGateSimulators
import Testing

@testable import TaskGate

/// `GET /tasks/{provider}/{id}?wait=`: an answer as soon as the task is final, at the vendor's
/// pace however many wait. Time is the test's: waiters sleep on a `ManualClock` the test moves.
@Suite(.timeLimit(.minutes(2))) struct TaskServiceLongPollTests {
    /// An Alibaba provider reused for 2 s, with a burst large enough that no rate wait sleeps on
    /// the test clock.
    static let pacedAliyun: @Sendable (inout ProviderConfiguration) -> Void = { provider in
        provider.statusTTL = .seconds(2)
        provider.rateBurst = 100
    }

    @Test func aWaiterGetsTheFinalAnswerWithinOnePollInterval() async throws {
        let clock = ManualClock()
        try await withAliyunGateway(configure: Self.pacedAliyun, clock: clock) { client, sim in
            let started = clock.now
            addTask(sim.state, id: "700001", .state(.running, seconds: 5), .state(.succeeded, result: AliyunMultimediaAIProviderTests.result))
            let answered = Shared<ContinuousClock.Instant?>(nil)
            async let response = { @Sendable in
                let response = try await client.get("/tasks/aliyun/700001?wait=30s")
                answered.value = clock.now
                return response
            }()
            #expect(await clock.sleepers(1))
            await clock.drive { answered.value != nil }
            let answer = try await response
            #expect(answer.status == .ok)
            #expect(try answer.json()["status"] as? String == "succeeded")
            #expect(answer.headers[.cacheControl] == "public, max-age=31536000, immutable")
            // Final at 5 s; asked every 2 s: answered at 6 s.
            let waited = try #require(answered.value) - started
            #expect(waited >= .seconds(5) && waited <= .seconds(7), "\(waited)")
            #expect(sim.state.calls(for: "700001")["GetTaskStatus"] == 3)
        }
    }

    /// A thousand callers waiting on one task cost the vendor one call per `status_ttl`.
    @Test func aThousandWaitersCostOneVendorCallPerTTL() async throws {
        let clock = ManualClock()
        try await withAliyunGateway(configure: Self.pacedAliyun, clock: clock) { client, sim in
            addTask(sim.state, id: "700002", .state(.running, seconds: 10), .state(.succeeded, result: AliyunMultimediaAIProviderTests.result))
            let done = Shared(0)
            try await withThrowingTaskGroup(of: String?.self) { group in
                for _ in 0..<1000 {
                    group.addTask {
                        let response = try await client.get("/tasks/aliyun/700002?wait=60s")
                        done.update { $0 += 1 }
                        return try response.json()["status"] as? String
                    }
                }
                #expect(await clock.sleepers(1000))
                // Time moves only while all thousand sleep: never during the vendor call they share.
                await clock.drive(sleepers: 1000) { done.value == 1000 }
                let statuses = try await group.reduce(into: [String?]()) { $0.append($1) }
                #expect(statuses.count == 1000 && statuses.allSatisfy { $0 == "succeeded" })
            }
            // First sight at 0 s (GetTaskResult); then one GetTaskStatus at 2, 4, 6, 8 and 10 s,
            // the last one final (GetTaskResult and ListTasks once more).
            #expect(sim.state.calls(for: "700002") == ["GetTaskResult": 2, "GetTaskStatus": 5])
        }
    }

    @Test func aWaitThatRunsOutAnswersTheLatestState() async throws {
        let clock = ManualClock()
        try await withAliyunGateway(configure: Self.pacedAliyun, clock: clock) { client, sim in
            addTask(sim.state, id: "700003", .state(.running))
            let answered = Shared(false)
            async let response = { @Sendable in
                defer { answered.value = true }
                return try await client.get("/tasks/aliyun/700003?wait=5")
            }()
            await clock.drive { answered.value }
            let answer = try await response
            #expect(answer.status == .ok)
            let task = try answer.json()
            #expect(task["status"] as? String == "running" && task["final"] as? Bool == false)
            #expect(sim.state.calls(for: "700003")["GetTaskStatus"] == 2)  // at 2 and 4 s; 5 s ends it
        }
    }

    @Test func aFinalTaskAnswersAtOnce() async throws {
        let clock = ManualClock()
        try await withAliyunGateway(configure: Self.pacedAliyun, clock: clock) { client, sim in
            addTask(sim.state, id: "700004", .state(.succeeded, result: AliyunMultimediaAIProviderTests.result))
            let first = try await client.get("/tasks/aliyun/700004?wait=60s")
            #expect(try first.json()["status"] as? String == "succeeded")
            let again = try await client.get("/tasks/aliyun/700004?wait=60s")
            #expect(again.headers[.xCache] == "HIT")
            #expect(clock.sleepers == 0)
        }
    }

    @Test(arguments: [("61s", 400), ("soon", 400), ("-1", 400), ("1m5s", 400), ("500ms", 200), ("0", 200), ("60", 200)])
    func waitIsADurationUpToMaxWait(wait: String, status: Int) async throws {
        try await withAliyunGateway(configure: Self.pacedAliyun, clock: ManualClock(skipsWaits: true)) { client, sim in
            addTask(sim.state, id: "700005", .state(.running))
            let answer = try await client.get("/tasks/aliyun/700005?wait=\(wait)")
            #expect(Int(answer.status.code) == status)
            if status == 400 { #expect(try answer.json()["type"] as? String == "urn:taskgate:problem:invalid-query") }
        }
    }

    @Test func theBudgetRunningOutMidWaitIsA429() async throws {
        let clock = ManualClock()
        let budgetOfThree: @Sendable (inout ProviderConfiguration) -> Void = { provider in
            var settings = CapMonsterSettings(clientKey: testClientKey)
            settings.resultBudget = 3
            provider.vendor = settings
        }
        try await withCapMonsterGateway(clock: clock, configure: budgetOfThree) { client, sim in
            addTask(sim.state, id: "700006", .state(.running))
            let answered = Shared(false)
            async let response = { @Sendable in
                defer { answered.value = true }
                return try await client.get("/tasks/capmonster/700006?wait=60s")
            }()
            await clock.drive { answered.value }
            let answer = try await response
            #expect(answer.status == .tooManyRequests)
            #expect(try answer.json()["type"] as? String == "urn:taskgate:problem:task-budget-exhausted")
            #expect(sim.state.calls(for: "700006")["getTaskResult"] == 3)
        }
    }

    /// A waiter whose caller hangs up is forgotten at once: no more vendor calls on its behalf.
    @Test func aCallerThatHangsUpIsForgotten() async throws {
        let clock = ManualClock()
        try await withSimulator(AliyunSimulator(accessKeyID: aliyunKeyID, accessKeySecret: aliyunSecret, state: SimulatorState(clock: clock))) {
            sim in
            addTask(sim.state, id: "700007", .state(.running))
            var aliyun = provider(
                "aliyun",
                endpoint: sim.endpoint,
                AliyunSettings(region: "cn-shanghai", accessKeyID: aliyunKeyID, accessKeySecret: aliyunSecret)
            )
            Self.pacedAliyun(&aliyun)
            let parts = try buildGateway(gatewayConfiguration(store: temporaryStorePath(), aliyun), logger: quietLogger, clock: clock)
            try await parts.application.test(.live) { client in
                let port = try #require(client.port)
                let request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/tasks/aliyun/700007?wait=60s")
                let caller = Task { try await HTTPClient.shared.execute(request, timeout: .seconds(60)) }
                // Once it waits (asleep until its answer is stale), the caller hangs up.
                #expect(await eventually { parts.service.longPolls.load(ordering: .relaxed) == 1 && clock.sleepers == 1 })
                caller.cancel()
                await #expect(throws: (any Error).self) { _ = try await caller.value }
                #expect(await eventually { parts.service.longPolls.load(ordering: .relaxed) == 0 })
                #expect(clock.sleepers == 0)
                let metrics = String(buffer: try await client.get("/metrics").body)
                #expect(metrics.contains("taskgate_long_polls 0"))
            }
            #expect(sim.state.calls(for: "700007") == ["GetTaskResult": 1])
        }
    }
}
