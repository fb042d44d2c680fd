import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Testing

@testable import TaskGate
@testable import TaskGateSimulators

/// The vendors' own rules beyond their error tables: CapMonster's final per-task limit, what a
/// success looks like, ids, one answer per task, nothing the vendor said lost, list filters.
@Suite(.timeLimit(.minutes(2))) struct VendorRulesTests {
    // MARK: - CapMonster's per-task limit

    @Test func theVendorsPerTaskLimitIsFinalAndRemembered() async throws {
        let logs = LogRecorder()
        let store = temporaryStorePath()
        let clock = ManualClock(skipsWaits: true)
        let retry: @Sendable (inout ProviderConfiguration) -> Void = { $0.retries = 2 }
        try await withCapMonsterGateway(store: store, clock: clock, logs: logs, configure: retry) { client, sim in
            addTask(sim.state, id: "47", .state(.running, polls: 1), SimulatedTask.Step(answer: .vendorError(code: "ERROR_TOO_MUCH_REQUESTS")))
            #expect(try await client.get("/tasks/capmonster/47").json()["status"] as? String == "running")
            for _ in 0..<2 {
                clock.advance(by: .seconds(3))
                let response = try await client.get("/tasks/capmonster/47")
                #expect(response.status == .tooManyRequests)
                let problem = try response.json()
                #expect(problem["type"] as? String == "urn:taskgate:problem:task-budget-exhausted")
                #expect(problem["vendorCode"] as? String == "ERROR_TOO_MUCH_REQUESTS")
                #expect((problem["lastKnown"] as? [String: Any])?["status"] as? String == "running")
            }
            // Once when it said so, never again: no retry, no later request.
            #expect(sim.state.calls(for: "47") == ["getTaskResult": 2])
        }
        let alerted = logs.lines.contains { $0.level == .error && $0.metadata["vendor_code"] == "ERROR_TOO_MUCH_REQUESTS" }
        #expect(alerted)
        // A restart on the same store remembers: the vendor is not asked again.
        try await withCapMonsterGateway(store: store) { client, sim in
            addTask(sim.state, id: "47", .state(.succeeded))
            let response = try await client.get("/tasks/capmonster/47")
            #expect(response.status == .tooManyRequests)
            #expect(sim.state.totalCalls == 0)
        }
    }

    /// Budgets belong to the vendor account, not to the provider's name: two names for one
    /// CapMonster key spend one budget.
    @Test func twoNamesForOneAccountShareItsBudget() async throws {
        let clock = ManualClock(skipsWaits: true)
        try await withSimulator(CapMonsterSimulator(clientKey: testClientKey, state: SimulatorState(clock: clock))) { sim in
            addTask(sim.state, id: "49", .state(.running))
            var settings = CapMonsterSettings(clientKey: testClientKey)
            settings.resultBudget = 2
            var first = provider("capmonster", endpoint: sim.endpoint, settings)
            var second = provider("capmonster-too", endpoint: sim.endpoint, settings)
            first.statusTTL = .zero
            second.statusTTL = .zero
            #expect(first.accountKey == second.accountKey)
            #expect(!first.accountKey.contains(testClientKey))
            let app = try buildApplication(gatewayConfiguration(store: temporaryStorePath(), first, second), logger: quietLogger, clock: clock)
            try await app.test(.router) { client in
                var statuses: [HTTPResponse.Status] = []
                for path in ["/tasks/capmonster/49", "/tasks/capmonster-too/49", "/tasks/capmonster-too/49", "/tasks/capmonster/49"] {
                    statuses.append(try await client.get(path).status)
                    clock.advance(by: .seconds(3))
                }
                #expect(statuses == [.ok, .ok, .tooManyRequests, .tooManyRequests])
            }
            #expect(sim.state.calls(for: "49") == ["getTaskResult": 2])
        }
    }

    // MARK: - Alibaba

    /// `Code` OK or 200, or `"Success": true` whatever `Code` says, on GetTaskResult and ListTasks.
    @Test(arguments: [("OK", nil), ("200", nil), (nil, true), ("Done", true)] as [(String?, Bool?)])
    func aSuccessCodeIsASuccessOnEveryCall(code: String?, flag: Bool?) async throws {
        var vendor = AliyunSimulator(accessKeyID: aliyunKeyID, accessKeySecret: aliyunSecret, state: SimulatorState(clock: ManualClock()))
        vendor.successCode = code
        vendor.successFlag = flag
        try await withAliyunGateway(simulator: vendor) { client, sim in
            addTask(sim.state, id: "400099", .state(.succeeded, result: AliyunMultimediaAIProviderTests.result))
            addTask(sim.state, id: "400100", .state(.running))
            let single = try await client.get("/tasks/aliyun/400100")
            #expect(single.status == .ok)
            #expect(try single.json()["status"] as? String == "running")
            let page = try await client.get("/tasks?provider=aliyun").json()
            #expect((page["tasks"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == ["400099", "400100"])
            #expect((page["incomplete"] as? [Any])?.isEmpty == true)
        }
    }

    @Test func anAlibabaTaskIdHasOneSpelling() async throws {
        try await withAliyunGateway { client, sim in
            let response = try await client.get("/tasks/aliyun/0400099")
            #expect(response.status == .badRequest)
            #expect(try response.json()["type"] as? String == "urn:taskgate:problem:malformed-id")
            #expect(sim.state.totalCalls == 0)
        }
    }

    @Test func aFailedAlibabaTaskIsNamedByErrorNameWhenErrorCodeIsANumber() async throws {
        try await withAliyunGateway { client, sim in
            addTask(sim.state, id: "77", .failed(code: "VideoDecodeFailed", message: "the video could not be decoded"))
            let task = try await client.get("/tasks/aliyun/77").json()
            #expect(task["error"] as? [String: String] == ["code": "VideoDecodeFailed", "message": "the video could not be decoded"])
            // The seed's failed shape, as the vendor sent it, stays in the result.
            #expect((task["result"] as? [String: Any])?["ErrorCode"] as? String == "400")
        }
    }

    /// A final task's answer is the same whichever route gives it first, and it is the richer one:
    /// GetTaskResult's result with what ListTasks adds (CreateTime and the item's own fields).
    @Test(arguments: [true, false])
    func aFinalTaskHasOneAnswerOnEveryRoute(singleFirst: Bool) async throws {
        try await withAliyunGateway { client, sim in
            let fields: [String: JSONValue] = ["ProcessingDuration": JSONValue(12)!, "ApplicationName": JSONValue("app1")!]
            let created = sim.state.clock.date.addingTimeInterval(-60)
            let steps: [SimulatedTask.Step] = [.state(.succeeded, result: AliyunMultimediaAIProviderTests.result)]
            sim.state.add(SimulatedTask(id: "400099", steps: steps, createdAt: created, fields: fields))
            let listingPath = "/tasks?provider=aliyun&status=succeeded"
            var single: [String: Any]
            var listed: [String: Any]
            if singleFirst {
                single = try await client.get("/tasks/aliyun/400099").json()
                listed = try #require((try await client.get(listingPath).json()["tasks"] as? [[String: Any]])?.first)
            } else {
                listed = try #require((try await client.get(listingPath).json()["tasks"] as? [[String: Any]])?.first)
                single = try await client.get("/tasks/aliyun/400099").json()
            }
            let canonical = { (object: [String: Any]) in try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) }
            #expect(try canonical(single) == canonical(listed))
            #expect(single["createdAt"] as? String == RFC3339Text.format(created))
            let vendorFields = try #require(single["vendorFields"] as? [String: Any])
            #expect(vendorFields["ProcessingDuration"] as? Int == 12)
            #expect(vendorFields["ApplicationName"] as? String == "app1")
            #expect((single["vendorRequestId"] as? String)?.isEmpty == false)
        }
    }

    @Test func vendorListFiltersPassThroughAndStayBoundToTheCursor() async throws {
        try await withAliyunGateway { client, sim in
            for index in 0..<4 {
                let id = String(600 + index)
                let fields = ["ApplicationName": JSONValue(index < 3 ? "app1" : "app2")!, "ServiceType": JSONValue(1)!]
                sim.state.add(SimulatedTask(id: id, steps: [.state(.running)], createdAt: sim.state.clock.date, fields: fields))
            }
            let first = try await client.get("/tasks?provider=aliyun&vendor.ApplicationName=app1&limit=2").json()
            #expect((first["tasks"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == ["600", "601"])
            let cursor = try #require(first["nextCursor"] as? String)
            let second = try await client.get("/tasks?provider=aliyun&vendor.ApplicationName=app1&limit=2&cursor=\(cursor)").json()
            #expect((second["tasks"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == ["602"])
            let byID = try await client.get("/tasks?provider=aliyun&vendor.TaskId=603").json()
            #expect((byID["tasks"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == ["603"])

            let unbound = try await client.get("/tasks?provider=aliyun&limit=2&cursor=\(cursor)")
            #expect(unbound.status == .badRequest)
            let unknown = try await client.get("/tasks?provider=aliyun&vendor.Bogus=1")
            #expect(unknown.status == .badRequest)
            let problem = try unknown.json()
            #expect(problem["type"] as? String == "urn:taskgate:problem:invalid-query")
            #expect((problem["detail"] as? String)?.contains("vendor.ApplicationName, vendor.ServiceType, vendor.TaskId") == true)
            #expect(try await client.get("/tasks?vendor.ApplicationName=app1").status == .badRequest)
        }
    }

    // MARK: - Tencent

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

    /// One FINISH item that cannot be resolved now (here: the rate wait ran out) leaves the rest
    /// of its page, names the provider in that page's `incomplete`, and the cursor goes on.
    @Test func anUnresolvableListedTaskMakesOnlyItsPageIncomplete() async throws {
        let clock = ManualClock(skipsWaits: true)
        let configure: @Sendable (inout ProviderConfiguration) -> Void = {
            $0.rateLimit = 1
            $0.rateBurst = 2
            $0.rateLimitWait = .zero
        }
        try await withTencentGateway(configure: configure, clock: clock) { client, sim in
            for suffix in ["a", "b", "c"] {
                addTask(sim.state, id: "2600010949-WorkflowTask-\(suffix)", .state(.succeeded, result: TencentMPSProviderTests.transcode))
            }
            let first = try await client.get("/tasks?provider=tencent&status=succeeded&limit=2").json()
            #expect((first["tasks"] as? [[String: Any]])?.count == 1)
            let incomplete = try #require(first["incomplete"] as? [[String: String]])
            #expect(incomplete.map { $0["provider"] } == ["tencent"])
            let cursor = try #require(first["nextCursor"] as? String)
            clock.advance(by: .seconds(10))
            let second = try await client.get("/tasks?provider=tencent&status=succeeded&limit=2&cursor=\(cursor)").json()
            #expect((second["tasks"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == ["2600010949-WorkflowTask-c"])
            #expect((second["incomplete"] as? [Any])?.isEmpty == true)
        }
    }

    // MARK: - CapMonster

    @Test func nothingCapMonsterSaidIsLost() async throws {
        try await withCapMonsterGateway { client, sim in
            let steps: [SimulatedTask.Step] = [.state(.succeeded)]
            sim.state.add(SimulatedTask(id: "48", steps: steps, createdAt: sim.state.clock.date, fields: ["cost": JSONValue("0.0012")!]))
            let task = try await client.get("/tasks/capmonster/48").json()
            let vendorFields = try #require(task["vendorFields"] as? [String: Any])
            #expect(vendorFields["cost"] as? String == "0.0012")
            #expect(vendorFields["ip"] as? String == "127.0.0.1")
            #expect(vendorFields["solveCount"] as? Int == 0)
            #expect(vendorFields["createTime"] != nil && vendorFields["endTime"] != nil)
            #expect(task["vendorRequestId"] is NSNull)
        }
    }
}
