import AsyncHTTPClient
import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import NIOCore
import NIOHTTP1
import TaskGate
import TaskGateSimulators
import Testing

/// The Tencent simulator accepts exactly what the official SDK sends.
@Suite(.timeLimit(.minutes(2))) struct TencentSimulatorTests {
    @Test func acceptsExactlyWhatTheOfficialSDKSends() async throws {
        let requests = try CapMonsterSimulatorTests.captures(["tencent_mps"])
        #expect(requests.count == 2)
        let captureTime = Date(timeIntervalSince1970: 1_795_475_361)
        let simulator = TencentSimulator(
            secretID: tencentSecretID,
            secretKey: tencentSecretKey,
            state: SimulatorState(clock: ManualClock(date: captureTime))
        )
        try await withSimulator(simulator) { sim in
            sim.state.add(SimulatedTask(id: TencentMPSProviderTests.workflow, steps: [.state(.succeeded)], createdAt: captureTime))
            var answers: [[String: Any]] = []
            for request in requests {
                let (status, json) = try await AliyunSimulatorTests.replay(request, port: sim.vendorPort)
                #expect(status == 200)
                let response = try #require(json["Response"] as? [String: Any])
                #expect(response["Error"] == nil, "\(response)")
                answers.append(response)
            }
            #expect(answers[0]["Status"] as? String == "FINISH")
            #expect((answers[0]["WorkflowTask"] as? [String: Any])?["ErrCode"] as? Int == 0)
            #expect((answers[1]["TaskSet"] as? [[String: Any]])?.count == 1)
            #expect(sim.state.rejections.isEmpty)
        }
    }
}
