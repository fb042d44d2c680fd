import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import NIOCore
import TaskGateSimulators
import Testing

@testable import TaskGate

/// The background watch: a task seen while not final is followed until it is final, its answer
/// stored though nobody asks again, before the vendor forgets it. Time is the test's: the watch
/// sleeps on a `ManualClock` the test moves from one sleeper's deadline to the next.
@Suite(.timeLimit(.minutes(2))) struct TaskWatcherTests {
    /// Runs a gateway whose one provider (`configure`d, watch on) fronts `simulator`, then `body`.
    static func withWatchingGateway<T: Sendable>(
        _ simulator: any VendorSimulator,
        store: String = temporaryStorePath(),
        clock: ManualClock,
        _ configure: @Sendable (String) -> ProviderConfiguration,
        _ body: @Sendable (any TestClientProtocol, RunningSimulator, Gateway) async throws -> T
    ) async throws -> T {
        try await withSimulator(simulator) { sim in
            var watched = configure(sim.endpoint)
            watched.watch = true
            watched.rateBurst = 100
            let parts = try buildGateway(gatewayConfiguration(store: store, watched), logger: quietLogger, clock: clock)
            return try await parts.application.test(.router) { client in try await body(client, sim, parts) }
        }
    }

    static func tencent(_ endpoint: String) -> ProviderConfiguration {
        provider("tencent", endpoint: endpoint, TencentSettings(secretID: tencentSecretID, secretKey: tencentSecretKey, region: "ap-guangzhou"))
    }

    static func aliyun(_ endpoint: String) -> ProviderConfiguration {
        provider("aliyun", endpoint: endpoint, AliyunSettings(region: "cn-shanghai", accessKeyID: aliyunKeyID, accessKeySecret: aliyunSecret))
    }

    static func capmonster(_ endpoint: String) -> ProviderConfiguration {
        provider("capmonster", endpoint: endpoint, CapMonsterSettings(clientKey: testClientKey))
    }

    static func storedStatus(_ parts: Gateway, _ provider: String, _ id: String) async throws -> TaskStatus? {
        try await parts.service.store.answer(provider: provider, id: id)?.status
    }

    /// Tencent: the watch finds the task finished in DescribeTasks, fetches only its detail, and
    /// stores it before the vendor forgets it.
    @Test func aTaskNobodyAsksAboutIsCapturedBeforeTheVendorForgetsIt() async throws {
        let clock = ManualClock()
        let id = "2600010949-WorkflowTask-watch0000000000000000000000001"
        let tencent = TencentSimulator(secretID: tencentSecretID, secretKey: tencentSecretKey, state: SimulatorState(clock: clock))
        let started = clock.now
        try await Self.withWatchingGateway(tencent, clock: clock, Self.tencent) { client, sim, parts in
            addTask(sim.state, id: id, .state(.running, seconds: 40), .state(.succeeded, seconds: 60), .gone)
            #expect(try await client.get("/tasks/tencent/\(id)").json()["status"] as? String == "running")
            try await clock.drive(for: .seconds(100)) { try await Self.storedStatus(parts, "tencent", id) == .succeeded }
            #expect(try await Self.storedStatus(parts, "tencent", id) == .succeeded)
            #expect(clock.now - started <= .seconds(100))
            // Running at 30 s: DescribeTasks said so, no detail asked. Finished at 60 s: one detail.
            #expect(sim.state.calls(for: id) == ["DescribeTaskDetail": 2])
            #expect((sim.state.calls(for: "*")["DescribeTasks"] ?? 0) >= 2)
            // The vendor has forgotten it; taskgate has not.
            await clock.drive(for: .seconds(60))
            let later = try await client.get("/tasks/tencent/\(id)")
            #expect(later.headers[.xCache] == "HIT")
            #expect(try later.json()["status"] as? String == "succeeded")
            let metrics = try await client.get("/metrics").text
            #expect(metrics.contains(#"taskgate_watch_captured_total{provider="tencent"} 1"#))
            #expect(metrics.contains(#"taskgate_watched_tasks{provider="tencent"} 0"#))
        }
    }

    /// Alibaba: ListTasks finds it finished; GetTaskResult alone completes it (the listed item
    /// has the rest); GetTaskStatus is never asked on the watch's behalf.
    @Test func alibabaIsWatchedThroughListTasks() async throws {
        let clock = ManualClock()
        let aliyun = AliyunSimulator(accessKeyID: aliyunKeyID, accessKeySecret: aliyunSecret, state: SimulatorState(clock: clock))
        try await Self.withWatchingGateway(aliyun, clock: clock, Self.aliyun) { client, sim, parts in
            addTask(sim.state, id: "800001", .state(.running, seconds: 40), .state(.succeeded, result: AliyunMultimediaAIProviderTests.result))
            addTask(sim.state, id: "800002", .state(.running))
            _ = try await client.get("/tasks/aliyun/800001")
            _ = try await client.get("/tasks/aliyun/800002")
            try await clock.drive(for: .seconds(100)) { try await Self.storedStatus(parts, "aliyun", "800001") == .succeeded }
            #expect(try await Self.storedStatus(parts, "aliyun", "800001") == .succeeded)
            #expect(sim.state.calls(for: "800001") == ["GetTaskResult": 2])
            #expect(sim.state.calls(for: "800002") == ["GetTaskResult": 1])
            #expect((sim.state.calls(for: "*")["ListTasks"] ?? 0) >= 2)
            let stored = try #require(try await parts.service.store.answer(provider: "aliyun", id: "800001"))
            let task = try #require(try JSONSerialization.jsonObject(with: Data(try stored.bytes.inflated().readableBytesView)) as? [String: Any])
            #expect(task["vendorFields"] is [String: Any], "the listed item's fields are kept")
        }
    }

    /// CapMonster has no list call: each task is asked about once per `watch_interval` (its
    /// `min_poll_interval`); one still running when the horizon passes is given up.
    @Test func capMonsterTasksArePolledUntilFinalOrTheHorizon() async throws {
        let clock = ManualClock()
        let capmonster = CapMonsterSimulator(clientKey: testClientKey, state: SimulatorState(clock: clock))
        let shortHorizon: @Sendable (String) -> ProviderConfiguration = { endpoint in
            var configuration = Self.capmonster(endpoint)
            configuration.watchHorizon = .seconds(20)
            return configuration
        }
        try await Self.withWatchingGateway(capmonster, clock: clock, shortHorizon) { client, sim, parts in
            addTask(sim.state, id: "900001", .state(.running, seconds: 9), .state(.succeeded, result: #"{"text":"watched"}"#))
            addTask(sim.state, id: "900002", .state(.running))
            _ = try await client.get("/tasks/capmonster/900001")
            _ = try await client.get("/tasks/capmonster/900002")
            await clock.drive(for: .seconds(60))
            #expect(try await Self.storedStatus(parts, "capmonster", "900001") == .succeeded)
            let finished = sim.state.calls(for: "900001")["getTaskResult"] ?? 0
            #expect(finished >= 5 && finished <= 7, "asked at 0 s, then every 2 s until 10 s: \(finished)")
            // Given up at 20 s: asked at most once per 2 s until then, and never after.
            let running = sim.state.calls(for: "900002")["getTaskResult"] ?? 0
            #expect(running >= 9 && running <= 11, "\(running)")
            let metrics = try await client.get("/metrics").text
            #expect(metrics.contains(#"taskgate_watch_expired_total{provider="capmonster"} 1"#))
            #expect(metrics.contains(#"taskgate_watch_captured_total{provider="capmonster"} 1"#))
            #expect(sim.state.shortestGap(for: "900002").map { $0 >= 2 } ?? false)
        }
    }

    /// What is watched is the store's: a new process on the same store picks it up.
    @Test func aRestartResumesTheWatch() async throws {
        let clock = ManualClock()
        let store = temporaryStorePath()
        let state = SimulatorState(clock: clock)
        let id = "2600010949-WorkflowTask-watch0000000000000000000000002"
        addTask(state, id: id, .state(.running, seconds: 40), .state(.succeeded))
        try await Self.withWatchingGateway(
            TencentSimulator(secretID: tencentSecretID, secretKey: tencentSecretKey, state: state),
            store: store,
            clock: clock,
            Self.tencent
        ) {
            client,
            _,
            _ in
            let status = try await client.get("/tasks/tencent/\(id)").json()["status"] as? String
            #expect(status == "running")
        }
        try await Self.withWatchingGateway(
            TencentSimulator(secretID: tencentSecretID, secretKey: tencentSecretKey, state: state),
            store: store,
            clock: clock,
            Self.tencent
        ) {
            _,
            _,
            parts in
            try await clock.drive(for: .seconds(100)) { try await Self.storedStatus(parts, "tencent", id) == .succeeded }
            #expect(try await Self.storedStatus(parts, "tencent", id) == .succeeded)
        }
    }
}
