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

let aliyunKeyID = "LTAI5tEXAMPLEEXAMPLEEXAM"
let aliyunSecret = "EXAMPLEsecretEXAMPLEsecretEXAMP"

/// Runs a gateway with one Alibaba provider named `aliyun` in front of a running simulator.
func withAliyunGateway<T: Sendable>(
    simulator: AliyunSimulator? = nil,
    configure: @Sendable (inout ProviderConfiguration) -> Void = { _ in },
    secret: String = aliyunSecret,
    store: String = temporaryStorePath(),
    logs: LogRecorder? = nil,
    clock: ManualClock = ManualClock(skipsWaits: true),
    _ body: @Sendable (any TestClientProtocol, RunningSimulator) async throws -> T
) async throws -> T {
    let simulator = simulator ?? AliyunSimulator(accessKeyID: aliyunKeyID, accessKeySecret: aliyunSecret, state: SimulatorState(clock: clock))
    return try await withSimulator(simulator) { sim in
        try await withAliyunGateway(endpoint: sim.endpoint, configure: configure, secret: secret, store: store, logs: logs, clock: clock) { client in
            try await body(client, sim)
        }
    }
}

/// Runs a gateway with one Alibaba provider named `aliyun` in front of `endpoint`: a simulator's,
/// or an address where no vendor answers.
func withAliyunGateway<T: Sendable>(
    endpoint: String,
    configure: (inout ProviderConfiguration) -> Void = { _ in },
    secret: String = aliyunSecret,
    store: String = temporaryStorePath(),
    logs: LogRecorder? = nil,
    clock: ManualClock = ManualClock(skipsWaits: true),
    _ body: @Sendable (any TestClientProtocol) async throws -> T
) async throws -> T {
    var aliyun = provider("aliyun", endpoint: endpoint, AliyunSettings(region: "cn-shanghai", accessKeyID: aliyunKeyID, accessKeySecret: secret))
    aliyun.statusTTL = .zero
    configure(&aliyun)
    let configuration = gatewayConfiguration(store: store, logLevel: logs == nil ? .critical : .trace, aliyun)
    let app = try buildApplication(configuration, logger: logs?.logger ?? quietLogger, clock: clock)
    return try await app.test(.router, body)
}

@Suite(.timeLimit(.minutes(2))) struct AliyunMultimediaAIProviderTests {
    static let v3Settings = {
        var settings = AliyunSettings(region: "cn-shanghai", accessKeyID: aliyunKeyID, accessKeySecret: aliyunSecret)
        settings.signature = .v3
        return settings
    }()

    static let result = #"{"VideoName":"v.mp4","AnalysisUseTime":30,"ApplicationId":"app","ProcessResultUrl":"http://example.invalid/r.txt"}"#

    @Test(arguments: [
        (SimulatedTask.Step.State.queued, "queued", "0", false), (.running, "running", "1", false),
        (.succeeded, "succeeded", "2", true), (.failed, "failed", "3", true),
    ])
    func vendorStatusesMapToTaskStatuses(state: SimulatedTask.Step.State, status: String, vendorStatus: String, final: Bool) async throws {
        try await withAliyunGateway { client, sim in
            let step: SimulatedTask.Step =
                state == .failed
                ? .failed(code: "VideoDecodeFailed", message: "cannot decode") : .state(state, result: Self.result)
            addTask(sim.state, id: "4235611", step)
            let response = try await client.get("/tasks/aliyun/4235611")
            #expect(response.status == .ok)
            let task = try response.json()
            #expect(task["kind"] as? String == "aliyun-multimediaai")
            #expect(task["status"] as? String == status)
            #expect(task["vendorStatus"] as? String == vendorStatus)
            #expect(task["final"] as? Bool == final)
            if state == .succeeded {
                let result = try #require(task["result"] as? [String: Any])
                #expect(result["ProcessResultUrl"] as? String == "http://example.invalid/r.txt")
                #expect(result["AnalysisUseTime"] as? Int == 30)
            }
            if state == .failed {
                let error = try #require(task["error"] as? [String: String])
                #expect(error == ["code": "VideoDecodeFailed", "message": "cannot decode"])
            }
            #expect(sim.state.rejections.isEmpty)
        }
    }

    @Test func firstSeenIsFetchedWholeThenPolledLightlyUntilFinal() async throws {
        try await withAliyunGateway { client, sim in
            addTask(sim.state, id: "77", .state(.running, polls: 2), .state(.succeeded, result: Self.result))
            #expect(try await client.get("/tasks/aliyun/77").json()["status"] as? String == "running")
            #expect(sim.state.calls(for: "77") == ["GetTaskResult": 1])
            #expect(try await client.get("/tasks/aliyun/77").json()["status"] as? String == "running")
            #expect(sim.state.calls(for: "77") == ["GetTaskResult": 1, "GetTaskStatus": 1])
            let final = try await client.get("/tasks/aliyun/77").json()
            #expect(final["status"] as? String == "succeeded")
            #expect(final["result"] is [String: Any])
            #expect(sim.state.calls(for: "77") == ["GetTaskResult": 2, "GetTaskStatus": 2])
            _ = try await client.get("/tasks/aliyun/77")
            #expect(sim.state.calls(for: "77") == ["GetTaskResult": 2, "GetTaskStatus": 2])
        }
    }

    @Test func v3SignatureIsAcceptedByTheVendor() async throws {
        let configure: @Sendable (inout ProviderConfiguration) -> Void = { $0.vendor = Self.v3Settings }
        try await withAliyunGateway(configure: configure) { client, sim async throws in
            addTask(sim.state, id: "78", .state(.running, polls: 1), .state(.succeeded, result: Self.result))
            #expect(try await client.get("/tasks/aliyun/78").json()["status"] as? String == "running")
            #expect(try await client.get("/tasks/aliyun/78").json()["status"] as? String == "succeeded")
            #expect(try await client.get("/tasks?provider=aliyun").status == .ok)
            #expect(sim.state.rejections.isEmpty)
            #expect(sim.state.calls(for: "78") == ["GetTaskResult": 2, "GetTaskStatus": 1])
        }
    }

    @Test func aWrongSecretIsABadGatewayThatSaysNothingOfKeys() async throws {
        let logs = LogRecorder()
        try await withAliyunGateway(secret: "wrong-secret-wrong-secret-wrong", logs: logs) { client, sim in
            addTask(sim.state, id: "79", .state(.running))
            let response = try await client.get("/tasks/aliyun/79")
            #expect(response.status == .badGateway)
            let problem = try response.json()
            #expect(problem["type"] as? String == "urn:taskgate:problem:vendor-rejected-credentials")
            #expect(problem["vendorCode"] as? String == "SignatureDoesNotMatch")
            #expect(!response.text.contains("string to sign"))
            #expect(!response.text.contains(aliyunKeyID))
            #expect(sim.state.rejections == ["SignatureDoesNotMatch": 1])
        }
        let logged = logs.lines.first { $0.metadata["vendor_code"] == "SignatureDoesNotMatch" }
        #expect(logged?.metadata["vendor_request_id"]?.isEmpty == false)
        #expect(!logs.lines.contains { $0.rendered.contains("wrong-secret") })
    }

    @Test func aSkewedClockIsReportedAsClockSkew() async throws {
        let logs = LogRecorder()
        // The vendor's clock is right; taskgate's runs twenty minutes ahead.
        let vendor = AliyunSimulator(accessKeyID: aliyunKeyID, accessKeySecret: aliyunSecret, state: SimulatorState(clock: ManualClock()))
        let twentyMinutesAhead = ManualClock(date: Date().addingTimeInterval(20 * 60))
        try await withAliyunGateway(simulator: vendor, logs: logs, clock: twentyMinutesAhead) { client, sim in
            addTask(sim.state, id: "80", .state(.running))
            let response = try await client.get("/tasks/aliyun/80")
            #expect(response.status == .badGateway)
            #expect(try response.json()["vendorCode"] as? String == "InvalidTimeStamp.Expired")
            #expect(sim.state.rejections == ["InvalidTimeStamp.Expired": 1])
        }
        #expect(logs.lines.contains { $0.level == .error && $0.message.contains("clock") })
    }

    @Test func unknownTaskIsNotFoundAndAnUnknownKeyIsNot() async throws {
        try await withAliyunGateway { client, sim in
            let response = try await client.get("/tasks/aliyun/123")
            #expect(response.status == .notFound)
            #expect(try response.json()["vendorCode"] as? String == "ResourceNotFound")
        }
        let other = AliyunSimulator(accessKeyID: "LTAI5tSOMEONEELSE", accessKeySecret: aliyunSecret)
        try await withAliyunGateway(simulator: other) { client, sim in
            let response = try await client.get("/tasks/aliyun/123")
            #expect(response.status == .badGateway)
            #expect(try response.json()["vendorCode"] as? String == "InvalidAccessKeyId.NotFound")
        }
    }

    @Test func aReusedNonceIsRetriedOnceWithAFreshOne() async throws {
        try await withAliyunGateway { client, sim in
            addTask(sim.state, id: "82", SimulatedTask.Step(answer: .vendorError(code: "SignatureNonceUsed"), polls: 1), .state(.running))
            let response = try await client.get("/tasks/aliyun/82")
            #expect(response.status == .ok)
            #expect(try response.json()["status"] as? String == "running")
            #expect(sim.state.calls(for: "82") == ["GetTaskResult": 2])
            // The simulator refuses any nonce it has seen: none was reused.
            #expect(sim.state.rejections.isEmpty)
        }
    }

    @Test(arguments: ["abc", "12345678901234567890", "-1", "1.0", "", "9223372036854775808"])
    func malformedTaskIdsAreRejectedBeforeAnyVendorCall(id: String) async throws {
        try await withAliyunGateway { client, sim in
            let response = try await client.get("/tasks/aliyun/\(id)")
            #expect([.badRequest, .notFound].contains(response.status))
            if response.status == .badRequest {
                // An empty id leaves a trailing slash: not a canonical path.
                let kind = id.isEmpty ? "invalid-path" : "malformed-id"
                #expect(try response.json()["type"] as? String == "urn:taskgate:problem:\(kind)")
            }
            #expect(sim.state.totalCalls == 0)
        }
    }

    @Test func listTasksPagesBehindTheCursorUntilTotalCount() async throws {
        try await withAliyunGateway { client, sim in
            let base = Date().addingTimeInterval(-3600)
            for index in 0..<5 {
                let id = String(500 + index)
                let step: SimulatedTask.Step =
                    index == 4 ? .failed(code: "VideoDecodeFailed", message: "bad") : .state(.succeeded, result: Self.result)
                sim.state.add(SimulatedTask(id: id, steps: [step], createdAt: base.addingTimeInterval(Double(index))))
            }
            var seen: [[String: Any]] = []
            var cursor: String?
            var pages = 0
            repeat {
                let page = try await client.get("/tasks?provider=aliyun&limit=2" + (cursor.map { "&cursor=\($0)" } ?? "")).json()
                seen += try #require(page["tasks"] as? [[String: Any]])
                cursor = page["nextCursor"] as? String
                pages += 1
            } while cursor != nil && pages < 10
            #expect(seen.map { $0["id"] as? String } == ["500", "501", "502", "503", "504"])
            #expect(pages == 3)
            #expect(sim.state.calls(for: "*")["ListTasks"] == 3)
            #expect(seen[0]["createdAt"] as? String == RFC3339Text.format(base))
            let failed = try #require(seen[4]["error"] as? [String: String])
            #expect(failed == ["code": "VideoDecodeFailed", "message": "bad"])

            let succeeded = try await client.get("/tasks?provider=aliyun&status=failed").json()
            #expect((succeeded["tasks"] as? [[String: Any]])?.map { $0["id"] as? String } == ["504"])
        }
    }

    @Test func aFailingVendorMakesTheMixedListingIncomplete() async throws {
        try await withSimulator(CapMonsterSimulator(clientKey: testClientKey)) { capmonster in
            try await withSimulator(AliyunSimulator(accessKeyID: aliyunKeyID, accessKeySecret: aliyunSecret)) { aliyun in
                addTask(capmonster.state, id: "11", .state(.succeeded))
                let configuration = gatewayConfiguration(
                    store: temporaryStorePath(),
                    provider("capmonster", endpoint: capmonster.endpoint, CapMonsterSettings(clientKey: testClientKey)),
                    provider(
                        "aliyun",
                        endpoint: aliyun.endpoint,
                        AliyunSettings(region: "cn-shanghai", accessKeyID: aliyunKeyID, accessKeySecret: "not-the-secret")
                    )
                )
                try await buildApplication(configuration, logger: quietLogger).test(.router) { client in
                    _ = try await client.get("/tasks/capmonster/11")
                    let page = try await client.get("/tasks").json()
                    #expect((page["tasks"] as? [[String: Any]])?.map { $0["id"] as? String } == ["11"])
                    let incomplete = try #require(page["incomplete"] as? [[String: String]])
                    #expect(incomplete.map { $0["provider"] } == ["aliyun"])
                    #expect(incomplete.first?["error"] == "urn:taskgate:problem:vendor-rejected-credentials")
                }
            }
        }
    }

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
}
