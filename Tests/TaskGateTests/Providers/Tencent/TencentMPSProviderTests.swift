import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NIOHTTP1
import TaskGate
import TaskGateSimulators
import Testing

@testable import TaskGate
@testable import TaskGateSimulators

let tencentSecretID = "AKIDEXAMPLEEXAMPLEEXAMPLEEXAMPLE1234"
let tencentSecretKey = "EXAMPLEsecretKeyEXAMPLEsecretKey"

/// Runs a gateway with one Tencent provider named `tencent` in front of a running simulator.
func withTencentGateway<T: Sendable>(
    simulator: TencentSimulator? = nil,
    configure: @Sendable (inout ProviderConfiguration) -> Void = { _ in },
    secretKey: String = tencentSecretKey,
    logs: LogRecorder? = nil,
    clock: ManualClock = ManualClock(skipsWaits: true),
    _ body: @Sendable (any TestClientProtocol, RunningSimulator) async throws -> T
) async throws -> T {
    let simulator = simulator ?? TencentSimulator(secretID: tencentSecretID, secretKey: tencentSecretKey, state: SimulatorState(clock: clock))
    return try await withSimulator(simulator) { sim in
        var tencent = provider(
            "tencent",
            endpoint: sim.endpoint,
            TencentSettings(secretID: tencentSecretID, secretKey: secretKey, region: "ap-guangzhou")
        )
        tencent.statusTTL = .zero
        configure(&tencent)
        let configuration = gatewayConfiguration(store: temporaryStorePath(), logLevel: logs == nil ? .critical : .trace, tencent)
        let app = try buildApplication(configuration, logger: logs?.logger ?? quietLogger, clock: clock)
        return try await app.test(.router) { client in try await body(client, sim) }
    }
}

@Suite(.timeLimit(.minutes(2))) struct TencentMPSProviderTests {
    static let workflow = "2600010949-WorkflowTask-80108cc3380155d98b2e3573a48a"
    static let transcode =
        #"{"MediaProcessResultSet":[{"Type":"Transcode","TranscodeTask":{"Status":"SUCCESS","ErrCode":0,"Message":"SUCCESS","Output":{"Path":"/out.mp4"}}}]}"#

    @Test(arguments: [
        (SimulatedTask.Step.State.queued, "queued", "WAITING"), (.running, "running", "PROCESSING"), (.succeeded, "succeeded", "FINISH"),
    ])
    func vendorStatusesMapToTaskStatuses(state: SimulatedTask.Step.State, status: String, vendorStatus: String) async throws {
        try await withTencentGateway { client, sim in
            addTask(sim.state, id: Self.workflow, .state(state, result: Self.transcode))
            let task = try await client.get("/tasks/tencent/\(Self.workflow)").json()
            #expect(task["kind"] as? String == "tencent-mps")
            #expect(task["status"] as? String == status)
            #expect(task["vendorStatus"] as? String == vendorStatus)
            #expect(task["createdAt"] is String)
            #expect((task["finishedAt"] is String) == (state == .succeeded))
            let result = try #require(task["result"] as? [String: Any])
            #expect(result["TaskId"] as? String == Self.workflow)
            #expect(result["MediaProcessResultSet"] is [Any])
            #expect(sim.state.rejections.isEmpty)
        }
    }

    @Test(arguments: [
        "2600010949-WorkflowTask-0001", "2600010949-EditMediaTask-0002", "2600010949-LiveStreamProcessTask-0003",
        "2600010949-ScheduleTask-0004",
    ])
    func finishWithAnErrCodeOnTheTaskOfItsTypeIsFailed(id: String) async throws {
        try await withTencentGateway { client, sim in
            addTask(sim.state, id: id, .failed(code: "30010", message: "Source file error."))
            let task = try await client.get("/tasks/tencent/\(id)").json()
            #expect(task["status"] as? String == "failed")
            #expect(task["final"] as? Bool == true)
            #expect(task["vendorStatus"] as? String == "FINISH")
            #expect(task["error"] as? [String: String] == ["code": "30010", "message": "Source file error."])
            #expect((task["result"] as? [String: Any])?["TaskId"] as? String == id)
        }
    }

    @Test func finishWithAFailedSubTaskIsFailed() async throws {
        try await withTencentGateway { client, sim in
            let failingSubTask =
                #"{"MediaProcessResultSet":[{"Type":"Transcode","TranscodeTask":{"Status":"FAIL","ErrCode":40000,"ErrCodeExt":"InvalidInput.VideoTrack","Message":"no video track"}}]}"#
            addTask(sim.state, id: Self.workflow, .state(.succeeded, result: failingSubTask))
            let task = try await client.get("/tasks/tencent/\(Self.workflow)").json()
            #expect(task["status"] as? String == "failed")
            #expect(task["error"] as? [String: String] == ["code": "InvalidInput.VideoTrack", "message": "no video track"])
        }
    }

    @Test func wrongCredentialsAreABadGateway() async throws {
        let logs = LogRecorder()
        try await withTencentGateway(secretKey: "not-the-secret-key-not-the-secret", logs: logs) { client, sim in
            addTask(sim.state, id: Self.workflow, .state(.running))
            let response = try await client.get("/tasks/tencent/\(Self.workflow)")
            #expect(response.status == .badGateway)
            #expect(try response.json()["vendorCode"] as? String == "AuthFailure.SignatureFailure")
            #expect(!response.text.contains(tencentSecretID))
            #expect(sim.state.rejections == ["AuthFailure.SignatureFailure": 1])
        }
        #expect(logs.lines.contains { $0.metadata["vendor_code"] == "AuthFailure.SignatureFailure" && $0.metadata["vendor_request_id"] != "-" })
        #expect(!logs.lines.contains { $0.rendered.contains("not-the-secret-key") })
    }

    @Test func aSkewedClockIsReportedAsClockSkew() async throws {
        let logs = LogRecorder()
        // The vendor's clock is right; taskgate's runs six minutes behind.
        let vendor = TencentSimulator(secretID: tencentSecretID, secretKey: tencentSecretKey, state: SimulatorState(clock: ManualClock()))
        let sixMinutesBehind = ManualClock(date: Date().addingTimeInterval(-6 * 60))
        try await withTencentGateway(simulator: vendor, logs: logs, clock: sixMinutesBehind) { client, sim in
            addTask(sim.state, id: Self.workflow, .state(.running))
            let response = try await client.get("/tasks/tencent/\(Self.workflow)")
            #expect(response.status == .badGateway)
            #expect(try response.json()["vendorCode"] as? String == "AuthFailure.SignatureExpire")
        }
        #expect(logs.lines.contains { $0.level == .error && $0.message.contains("clock") })
    }

    @Test func taskDetailsAreForgottenAfterThreeDays() async throws {
        let clock = ManualClock(skipsWaits: true)
        try await withTencentGateway(clock: clock) { client, sim in
            addTask(sim.state, id: Self.workflow, .state(.succeeded))
            clock.advance(by: .seconds(4 * 24 * 3600))
            addTask(sim.state, id: "2600010949-WorkflowTask-fresh", .state(.succeeded))
            let old = try await client.get("/tasks/tencent/\(Self.workflow)")
            #expect(old.status == .notFound)
            #expect(try old.json()["vendorCode"] as? String == "ResourceNotFound.TaskNotFound")
            #expect(try await client.get("/tasks/tencent/2600010949-WorkflowTask-fresh").status == .ok)
        }
    }

    @Test(arguments: ["bad!id", "a.b", String(repeating: "a", count: 129), "with space"])
    func malformedTaskIdsAreRejectedBeforeAnyVendorCall(id: String) async throws {
        try await withTencentGateway { client, sim in
            let escaped = id.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? id
            let response = try await client.get("/tasks/tencent/\(escaped)")
            #expect(response.status == .badRequest)
            #expect(sim.state.totalCalls == 0)
        }
    }

    @Test func describeTasksPagesWithScrollTokenAndResolvesFinish() async throws {
        try await withTencentGateway { client, sim in
            let base = Date().addingTimeInterval(-600)
            for index in 0..<4 {
                let id = "2600010949-WorkflowTask-done\(index)"
                let step: SimulatedTask.Step = index == 3 ? .failed(code: "30010", message: "bad") : .state(.succeeded, result: Self.transcode)
                sim.state.add(SimulatedTask(id: id, steps: [step], createdAt: base.addingTimeInterval(Double(index))))
            }
            sim.state.add(SimulatedTask(id: "2600010949-WorkflowTask-busy", steps: [.state(.running)], createdAt: base))
            sim.state.add(SimulatedTask(id: "2600010949-WorkflowTask-wait", steps: [.state(.queued)], createdAt: base))
            var seen: [String: String] = [:]
            var cursor: String?
            var pages = 0
            repeat {
                let page = try await client.get("/tasks?provider=tencent&limit=2" + (cursor.map { "&cursor=\($0)" } ?? "")).json()
                for task in try #require(page["tasks"] as? [[String: Any]]) {
                    seen[task["id"] as! String] = task["status"] as? String
                }
                cursor = page["nextCursor"] as? String
                pages += 1
            } while cursor != nil && pages < 20
            #expect(seen.count == 6)
            #expect(seen["2600010949-WorkflowTask-wait"] == "queued")
            #expect(seen["2600010949-WorkflowTask-busy"] == "running")
            #expect(seen["2600010949-WorkflowTask-done0"] == "succeeded")
            #expect(seen["2600010949-WorkflowTask-done3"] == "failed")
            #expect(sim.state.calls(for: "*")["DescribeTasks", default: 0] >= 4)

            // FINISH items are final now: listing failed ones again asks no DescribeTaskDetail.
            let detailCalls = sim.state.calls(for: "2600010949-WorkflowTask-done3")["DescribeTaskDetail"]
            let failed = try await client.get("/tasks?provider=tencent&status=failed").json()
            #expect((failed["tasks"] as? [[String: Any]])?.map { $0["id"] as? String } == ["2600010949-WorkflowTask-done3"])
            #expect(sim.state.calls(for: "2600010949-WorkflowTask-done3")["DescribeTaskDetail"] == detailCalls)
        }
    }

    @Test func theVendorNeverSeesMoreThanTheConfiguredRate() async throws {
        let clock = ManualClock()
        let simulator = TencentSimulator(
            secretID: tencentSecretID,
            secretKey: tencentSecretKey,
            requestsPerSecond: 20,
            state: SimulatorState(clock: clock)
        )
        let configure: @Sendable (inout ProviderConfiguration) -> Void = {
            $0.rateLimit = 20
            $0.rateLimitWait = .seconds(5)
        }
        try await withTencentGateway(simulator: simulator, configure: configure, clock: clock) { client, sim in
            let ids = (0..<50).map { "2600010949-WorkflowTask-rate\($0)" }
            for id in ids { addTask(sim.state, id: id, .state(.running)) }
            let started = clock.now
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for id in ids { group.addTask { try await client.get("/tasks/tencent/\(id)").status } }
                // One goes at once, 49 wait for their slots; each slot's request reaches the
                // vendor before the clock moves on, as on a real clock.
                try #require(await eventually { sim.state.totalCalls == 1 && clock.sleepers == 49 })
                for sent in 2...50 {
                    // The first miss ends the test: every later step would wait out its own bound.
                    clock.advanceToNextDeadline()
                    try #require(await eventually { sim.state.totalCalls == sent })
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.allSatisfy { $0 == .ok })
            #expect(sim.state.rejections.isEmpty)  // never RequestLimitExceeded
            // 50 calls at 20 a second (55 ms apart with the margin) span 49 intervals.
            #expect(clock.now - started == .nanoseconds(49 * 55_000_000))
        }
    }

    @Test func callersOverTheRateGet503WithoutReachingTheVendor() async throws {
        let configure: @Sendable (inout ProviderConfiguration) -> Void = {
            $0.rateLimit = 5
            $0.rateLimitWait = .zero
        }
        try await withTencentGateway(configure: configure) { client, sim in
            let ids = (0..<20).map { "2600010949-WorkflowTask-over\($0)" }
            for id in ids { addTask(sim.state, id: id, .state(.running)) }
            let responses = try await withThrowingTaskGroup(of: (HTTPResponse.Status, String?).self) { group in
                for id in ids {
                    group.addTask {
                        let response = try await client.get("/tasks/tencent/\(id)")
                        return (response.status, response.headers[.retryAfter])
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            // No waiting allowed and no time passes: the first caller takes the one token, the
            // others get 503 at once.
            #expect(responses.filter { $0.0 == .ok }.count == 1)
            #expect(responses.filter { $0.0 == .serviceUnavailable && $0.1 == "1" }.count == 19)
            #expect(sim.state.totalCalls == 1)
        }
    }

    @Test func nothingTencentSaidIsLost() async throws {
        let id = TencentMPSProviderTests.workflow
        try await withTencentGateway { client, sim in
            let fields = ["SessionContext": JSONValue("order-42")!, "SessionId": JSONValue("s-1")!, "TasksPriority": JSONValue(5)!]
            let steps: [SimulatedTask.Step] = [.state(.succeeded, result: TencentMPSProviderTests.transcode)]
            sim.state.add(SimulatedTask(id: id, steps: steps, createdAt: sim.state.clock.date, fields: fields))
            let task = try await client.get("/tasks/tencent/\(id)").json()
            let vendorFields = try #require(task["vendorFields"] as? [String: Any])
            #expect(vendorFields["SessionContext"] as? String == "order-42")
            #expect(vendorFields["SessionId"] as? String == "s-1")
            #expect(vendorFields["TasksPriority"] as? Int == 5)
            #expect(vendorFields["TaskType"] as? String == "WorkflowTask")
            #expect(vendorFields["WorkflowTask"] == nil && vendorFields["Status"] == nil)
            #expect((task["vendorRequestId"] as? String)?.isEmpty == false)
        }
    }
}
