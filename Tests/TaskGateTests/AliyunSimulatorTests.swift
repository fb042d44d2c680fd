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
}
