import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import TaskGate
import TaskGateSimulators
import Testing

/// The Alibaba simulator accepts exactly what the official SDKs send, signed as they sign it.
@Suite(.timeLimit(.minutes(2))) struct AliyunSimulatorTests {
    /// The captures were made at 2026-11-23T23:09:18–20Z; the simulator's clock stands there.
    static let captureTime = Date(timeIntervalSince1970: 1_795_475_359)

    /// Sends a captured request with its own Host header (V3 signs it).
    static func replay(_ request: CapMonsterSimulatorTests.CapturedRequest, port: Int) async throws -> (UInt, [String: Any]) {
        var outgoing = HTTPClientRequest(url: "http://127.0.0.1:\(port)" + request.target)
        outgoing.method = HTTPMethod(rawValue: request.method)
        for (name, value) in request.headers where name.lowercased() != "content-length" {
            outgoing.headers.add(name: name, value: value)
        }
        if let body = request.body { outgoing.body = .bytes(ByteBuffer(string: body)) }
        let response = try await HTTPClient.shared.execute(outgoing, timeout: .seconds(5))
        let body = try await response.body.collect(upTo: 1 << 20)
        return (response.status.code, try #require(try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any]))
    }

    @Test func acceptsExactlyWhatTheOfficialSDKsSend() async throws {
        let sections = ["aliyun_sdk_core_hmacsha1", "aliyun_tea_multimediaai20190810_hmacsha1", "aliyun_tea_openapi_acs3"]
        let requests = try CapMonsterSimulatorTests.captures(Set(sections))
        #expect(requests.count == 5)
        let state = SimulatorState(clock: ManualClock(date: Self.captureTime))
        let simulator = AliyunSimulator(accessKeyID: aliyunKeyID, accessKeySecret: aliyunSecret, state: state)
        try await withSimulator(simulator) { sim in
            addTask(sim.state, id: "4235611", .state(.succeeded, result: #"{"VideoName":"videoName"}"#))
            for request in requests {
                // Replayed to another port: the Host line is the captured one, as the SDK signed it.
                let (status, json) = try await Self.replay(request, port: sim.vendorPort)
                #expect(status == 200, "\(request.target): \(json)")
                #expect(json["RequestId"] is String)
                #expect(json["Status"] as? Int == 2 || json["TotalCount"] is Int, "\(json)")
            }
            #expect(sim.state.rejections.isEmpty)
            #expect(sim.state.calls(for: "4235611") == ["GetTaskResult": 3, "GetTaskStatus": 1])
        }
    }

    @Test func aReplayedRequestIsRefusedAsANonceUsedTwice() async throws {
        let request = try #require(try CapMonsterSimulatorTests.captures(["aliyun_sdk_core_hmacsha1"]).first)
        let simulator = AliyunSimulator(
            accessKeyID: aliyunKeyID,
            accessKeySecret: aliyunSecret,
            state: SimulatorState(clock: ManualClock(date: Self.captureTime))
        )
        try await withSimulator(simulator) { sim in
            addTask(sim.state, id: "4235611", .state(.running))
            #expect(try await Self.replay(request, port: sim.vendorPort).0 == 200)
            let (status, json) = try await Self.replay(request, port: sim.vendorPort)
            #expect(status == 400)
            #expect(json["Code"] as? String == "SignatureNonceUsed")
        }
    }

    @Test func aTimestampMoreThanFifteenMinutesOffIsExpired() async throws {
        let request = try #require(try CapMonsterSimulatorTests.captures(["aliyun_sdk_core_hmacsha1"]).first)
        let simulator = AliyunSimulator(
            accessKeyID: aliyunKeyID,
            accessKeySecret: aliyunSecret,
            state: SimulatorState(clock: ManualClock(date: Self.captureTime.addingTimeInterval(16 * 60)))
        )
        try await withSimulator(simulator) { sim in
            let (status, json) = try await Self.replay(request, port: sim.vendorPort)
            #expect(status == 400)
            #expect(json["Code"] as? String == "InvalidTimeStamp.Expired")
            #expect(sim.state.rejections == ["InvalidTimeStamp.Expired": 1])
        }
    }

    @Test func aTamperedParameterBreaksTheSignature() async throws {
        var request = try #require(try CapMonsterSimulatorTests.captures(["aliyun_sdk_core_hmacsha1"]).first)
        request.target = request.target.replacingOccurrences(of: "TaskId=4235611", with: "TaskId=4235612")
        let simulator = AliyunSimulator(
            accessKeyID: aliyunKeyID,
            accessKeySecret: aliyunSecret,
            state: SimulatorState(clock: ManualClock(date: Self.captureTime))
        )
        try await withSimulator(simulator) { sim in
            let (status, json) = try await Self.replay(request, port: sim.vendorPort)
            #expect(status == 400)
            #expect(json["Code"] as? String == "SignatureDoesNotMatch")
            #expect(json["Message"] as? String ?? "" != "")
        }
    }

    /// One RPC call signed as the SDK signs it, at the simulator's time.
    static func call(_ action: String, _ parameters: [(String, String)], port: Int, at date: Date) async throws -> (UInt, [String: Any]) {
        let common = [
            ("Action", action), ("Version", "2019-08-10"), ("Format", "JSON"), ("AccessKeyId", aliyunKeyID),
            ("SignatureMethod", "HMAC-SHA1"), ("SignatureVersion", "1.0"), ("SignatureNonce", UUID().uuidString),
            ("Timestamp", AliyunTimestamp.format(date)), ("RegionId", "cn-shanghai"),
        ]
        let signed = AliyunRPCSigner.sign(method: "POST", parameters: parameters + common, secret: aliyunSecret)
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)" + signed.requestTarget)
        request.method = .POST
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
        let body = try await response.body.collect(upTo: 1 << 20)
        return (response.status.code, try #require(try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any]))
    }

    /// The seeds' HTTP status for each error code, which the official SDK's retry rule reads.
    @Test(
        arguments: [
            ("InternalError", 500), ("ServiceUnavailable", 500), ("Unauthorized", 401), ("ServiceNotOpened", 401),
            ("BalanceNotEnough", 401), ("InvalidApiNotFound", 404), ("ResourceNotFound", 404), ("ServiceNotSelected", 406),
        ] as [(String, UInt)]
    )
    func errorCodesComeWithTheSeedsHTTPStatus(code: String, status: UInt) async throws {
        let clock = ManualClock()
        let simulator = AliyunSimulator(accessKeyID: aliyunKeyID, accessKeySecret: aliyunSecret, state: SimulatorState(clock: clock))
        try await withSimulator(simulator) { sim in
            addTask(sim.state, id: "91", SimulatedTask.Step(answer: .vendorError(code: code)))
            let (answered, json) = try await Self.call("GetTaskResult", [("TaskId", "91")], port: sim.vendorPort, at: clock.date)
            #expect(answered == status)
            #expect(json["Code"] as? String == code)
            #expect(json["RequestId"] is String)
        }
    }

    /// ListTasks types TaskId as a Long (the official SDK compares it as one), failed items carry
    /// the seed's error fields, and a success can carry `"Code": "OK"`.
    @Test func listTasksSpeaksTheSeedsTypes() async throws {
        let clock = ManualClock()
        var simulator = AliyunSimulator(accessKeyID: aliyunKeyID, accessKeySecret: aliyunSecret, state: SimulatorState(clock: clock))
        simulator.successCode = "OK"
        try await withSimulator(simulator) { sim in
            addTask(sim.state, id: "92", .failed(code: "VideoDecodeFailed", message: "bad"))
            let (status, json) = try await Self.call("ListTasks", [("PageNumber", "1"), ("PageSize", "10")], port: sim.vendorPort, at: clock.date)
            #expect(status == 200)
            #expect(json["Code"] as? String == "OK")
            let item = try #require((json["Tasks"] as? [[String: Any]])?.first)
            #expect(item["TaskId"] as? Int == 92)
            #expect(item["TaskId"] as? String == nil)
            #expect(item["ErrorCode"] as? String == "400")
            #expect(item["ErrorName"] as? String == "VideoDecodeFailed")
            #expect(item["ErrorMessage"] as? String == "bad" && item["ErrorReason"] as? String == "bad")
        }
    }
}
